"""Multi-block masks against the paper's rules: block scales and aspect ratios, disjointness, min_keep, coverage."""

import math

import pytest
import torch
from ijepa import ImageJepaConfig, ImageJepaMaskCollator
from ijepa.masking_ijepa import build_mask_sampler


def _draws(config: ImageJepaConfig, batches: int, batch_size: int = 4, seed: int = 0):
    sampler = build_mask_sampler(config)
    generator = torch.Generator().manual_seed(seed)
    return [sampler(batch_size, generator) for _ in range(batches)]


def test_paper_defaults_in_config():
    config = ImageJepaConfig()
    assert (config.num_target_blocks, tuple(config.target_scale), tuple(config.target_aspect_ratio)) == (
        4, (0.15, 0.2), (0.75, 1.5),
    )  # fmt: skip
    assert (config.num_context_blocks, tuple(config.context_scale), tuple(config.context_aspect_ratio)) == (
        1, (0.85, 1.0), (1.0, 1.0),
    )  # fmt: skip
    assert config.min_keep == 10 and not config.allow_overlap


def test_block_shapes_follow_scale_and_aspect_ratio():
    """ViT-B/16 at 224 px: 14×14 grid. Target blocks cover 15–20 % (± rounding), context 85–100 %."""
    config = ImageJepaConfig()
    sampler = build_mask_sampler(config)
    generator = torch.Generator().manual_seed(0)
    n = 14 * 14
    target_shapes = [sampler.block_shape(sampler.target, generator) for _ in range(500)]
    context_shapes = [sampler.block_shape(sampler.context, generator) for _ in range(500)]
    target_areas = torch.tensor([h * w / n for h, w in target_shapes])
    ratios = torch.tensor([h / w for h, w in target_shapes])
    assert target_areas.min() >= 0.12 and target_areas.max() <= 0.23
    assert ratios.min() >= 0.6 and ratios.max() <= 1.8  # 0.75–1.5 before rounding to whole patches
    assert ratios.min() < 0.9 and ratios.max() > 1.3  # the whole range is used
    assert all(h == w for h, w in context_shapes)  # aspect ratio 1
    context_areas = torch.tensor([h * w / n for h, w in context_shapes])
    assert context_areas.min() >= 0.8 and context_areas.max() == 1.0  # the full grid is reachable


def test_context_and_targets_disjoint_sorted_min_keep_and_batch_shared_sizes():
    config = ImageJepaConfig()
    for context, targets in _draws(config, 50):
        batch, num_targets, target_len = targets.shape
        assert num_targets == 4 and context.shape[0] == batch
        assert context.shape[1] >= config.min_keep and target_len >= config.min_keep
        assert (context.diff(dim=1) > 0).all() and (targets.diff(dim=-1) > 0).all()
        assert 0.12 * 196 <= target_len <= 0.23 * 196
        for b in range(batch):
            assert not set(context[b].tolist()) & set(targets[b].flatten().tolist())


def test_target_blocks_are_rectangles():
    """Before truncation a target is a full rectangle; its indices lie in a box of the drawn shape."""
    config = ImageJepaConfig()
    for _, targets in _draws(config, 20):
        rows, cols = targets // 14, targets % 14
        heights = rows.amax(-1) - rows.amin(-1) + 1
        widths = cols.amax(-1) - cols.amin(-1) + 1
        assert (heights * widths >= targets.shape[-1]).all()
        assert (heights * widths <= targets.shape[-1] + heights.max()).all()  # truncation drops < one row


def test_same_seed_same_masks_and_different_seed_differs():
    config = ImageJepaConfig.from_preset("tiny")
    first = _draws(config, 5, seed=3)
    again = _draws(config, 5, seed=3)
    other = _draws(config, 5, seed=4)
    for (c1, t1), (c2, t2) in zip(first, again, strict=True):
        assert torch.equal(c1, c2) and torch.equal(t1, t2)
    assert any(not torch.equal(t1, t2) for (_, t1), (_, t2) in zip(first, other, strict=True))


def test_blocks_reach_every_row_and_column():
    """The reference sampler never touches the last row/column; ours must reach all of them."""
    config = ImageJepaConfig()
    rows, cols, context_rows, context_cols = set(), set(), set(), set()
    for context, targets in _draws(config, 200, batch_size=2):
        rows |= set((targets // 14).flatten().tolist())
        cols |= set((targets % 14).flatten().tolist())
        context_rows |= set((context // 14).flatten().tolist())
        context_cols |= set((context % 14).flatten().tolist())
    assert rows == cols == context_rows == context_cols == set(range(14))


def test_collator_adds_masks_to_stacked_batch():
    config = ImageJepaConfig.from_preset("tiny")
    samples = [{"pixel_values": torch.full((3, 32, 32), float(i)), "labels": torch.tensor(i)} for i in range(6)]
    batch = ImageJepaMaskCollator(config, seed=0)(samples)
    assert batch["pixel_values"].shape == (6, 3, 32, 32) and batch["labels"].tolist() == list(range(6))
    assert batch["context_indices"].shape[0] == 6 and batch["target_indices"].shape[:2] == (6, 4)
    assert batch["context_indices"].max() < 64 and batch["target_indices"].max() < 64


def test_every_mask_rule_is_configurable():
    config = ImageJepaConfig.from_preset(
        "tiny", num_target_blocks=2, target_scale=(0.3, 0.3), target_aspect_ratio=(1.0, 1.0), min_keep=2,
        allow_overlap=True,
    )  # fmt: skip
    context, targets = _draws(config, 1)[0]
    assert targets.shape[1] == 2
    side = round(math.sqrt(int(64 * 0.3)))
    assert targets.shape[2] == side * side
    assert context.shape[1] >= 49  # overlap allowed: the smallest context block (7×7) is kept whole


def test_impossible_min_keep_is_a_clear_error():
    config = ImageJepaConfig.from_preset("tiny", min_keep=40)
    with pytest.raises(ValueError, match="min_keep"):
        _draws(config, 1)
