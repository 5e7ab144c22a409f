"""Curriculum masking: multi-block at the start, a mix in the middle, time-frequency at the end; exact resume."""

import pytest
import torch
from ajepa import AudioJepaConfig, AudioJepaMaskCollator
from ajepa.masking_ajepa import curriculum_probability

TIME, FREQ = 64, 8  # the paper's grid: 1024 frames × 128 bins in 16 × 16 patches


def config(**overrides) -> AudioJepaConfig:
    return AudioJepaConfig(max_steps=100, **overrides)


def block_kind(indices: torch.Tensor) -> str:
    """'time' for a full-frequency time stripe, 'frequency' for a full-time band, else 'block'."""
    rows, cols = set((indices // FREQ).tolist()), set((indices % FREQ).tolist())
    full = len(indices) == len(rows) * len(cols)
    if full and len(cols) == FREQ and len(rows) < TIME:
        return "time"
    if full and len(rows) == TIME:
        return "frequency"
    return "block"


def draw(collator: AudioJepaMaskCollator, batches: int, batch_size: int = 8) -> list[dict]:
    inputs = {"input_values": torch.zeros(batch_size, 1024, 128)}
    return [collator.sample_masks(inputs) for _ in range(batches)]


def batch_kinds(masks: dict) -> set[str]:
    return {block_kind(block) for sample in masks["target_indices"] for block in sample}


def test_schedule_shapes():
    linear = config()
    assert [curriculum_probability(s, 100, linear) for s in (0, 25, 50, 100, 150)] == [0, 0.25, 0.5, 1, 1]
    cosine = config(curriculum_schedule="cosine", curriculum_start=0.2, curriculum_end=0.6, curriculum_final_prob=0.8)
    assert curriculum_probability(10, 100, cosine) == 0
    assert curriculum_probability(40, 100, cosine) == pytest.approx(0.4)
    assert curriculum_probability(90, 100, cosine) == pytest.approx(0.8)
    step = config(curriculum_schedule="step")
    assert [curriculum_probability(s, 100, step) for s in (49, 50)] == [0, 1]
    with pytest.raises(ValueError, match="curriculum_schedule"):
        config(curriculum_schedule="exponential")


def test_start_of_curriculum_is_ijepa_multiblock():
    collator = AudioJepaMaskCollator(config(), seed=0)
    masks = draw(collator, 1, batch_size=16)[0]
    assert masks["target_indices"].shape[:2] == (16, 4) and batch_kinds(masks) == {"block"}
    block_tokens = masks["target_indices"].shape[2]
    assert 0.13 * 512 <= block_tokens <= 0.21 * 512  # scale 0.15–0.2 of 512 patches (rounded sides)
    assert 0.1 * 512 <= masks["context_indices"].shape[1] <= 0.6 * 512  # 0.85–1.0 block minus 4 targets
    for context, targets in zip(masks["context_indices"], masks["target_indices"], strict=True):
        assert not set(context.tolist()) & set(targets.flatten().tolist())
        assert torch.all(context[1:] > context[:-1])


def test_end_of_curriculum_is_time_frequency_only():
    collator = AudioJepaMaskCollator(config(), seed=0)
    collator.draws = 100
    kinds, widths = [], []
    for masks in draw(collator, 40):
        batch = batch_kinds(masks)
        assert len(batch) == 1 and batch <= {"time", "frequency"}
        kinds.append(batch.pop())
        widths.append(masks["target_indices"].shape[2])
        for context, targets in zip(masks["context_indices"], masks["target_indices"], strict=True):
            assert len(context) >= 10 and not set(context.tolist()) & set(targets.flatten().tolist())
    share_time = kinds.count("time") / len(kinds)
    assert 0.25 <= share_time <= 0.75  # time_stripe_prob 0.5
    time_widths = {w // FREQ for w, k in zip(widths, kinds, strict=True) if k == "time"}
    band_widths = {w // TIME for w, k in zip(widths, kinds, strict=True) if k == "frequency"}
    assert time_widths <= set(range(10, 14)) and band_widths == {1}  # 0.15–0.2 of 64, 0.125 of 8


def test_middle_of_curriculum_mixes_both_kinds():
    collator = AudioJepaMaskCollator(AudioJepaConfig(max_steps=10_000), seed=0)
    collator.draws = 5000
    assert collator.time_frequency_probability() == 0.5
    tf_share = sum(batch_kinds(m) != {"block"} for m in draw(collator, 60)) / 60
    assert 0.3 <= tf_share <= 0.7


def test_counter_advances_and_resume_is_exact():
    collator = AudioJepaMaskCollator(config(), seed=3)
    draw(collator, 7)
    assert collator.step == 7
    state = collator.state_dict()
    resumed = AudioJepaMaskCollator(config(), seed=99)
    resumed.load_state_dict(state)
    assert resumed.step == 7
    for a, b in zip(draw(collator, 5), draw(resumed, 5), strict=True):
        assert torch.equal(a["context_indices"], b["context_indices"])
        assert torch.equal(a["target_indices"], b["target_indices"])
    accumulating = AudioJepaMaskCollator(config(), draws_per_step=4)
    draw(accumulating, 10)
    assert accumulating.step == 2


def test_tiny_grid_collates_samples():
    tiny = AudioJepaConfig.from_preset("tiny")
    collator = AudioJepaMaskCollator(tiny, seed=0)
    batch = collator([{"input_values": torch.zeros(128, 128), "labels": torch.tensor(i)} for i in range(4)])
    assert batch["input_values"].shape == (4, 128, 128) and batch["labels"].tolist() == [0, 1, 2, 3]
    assert batch["context_indices"].max() < 64 and batch["target_indices"].shape[:2] == (4, 4)
