"""ECG-JEPA time masking against the paper's rules, checked on many draws."""

import math

import numpy as np
import pytest
import torch
from ecg_jepa import EcgJepaConfig, EcgMaskCollator, sample_time_mask
from jepa_core.masks import MaskCollator


def runs(masked) -> list[int]:
    """Lengths of the maximal masked runs."""
    lengths, current = [], 0
    for value in masked.tolist() + [False]:
        if value:
            current += 1
        elif current:
            lengths.append(current)
            current = 0
    return lengths


def draw(collator, batches: int, batch_size: int = 8, samples: int = 5000):
    """Masks only depend on the length: a 1-lead stand-in keeps the statistics tests light."""
    return [collator.sample_masks({"input_values": torch.zeros(batch_size, 1, samples)}) for _ in range(batches)]


def test_collator_is_a_core_mask_collator_built_from_the_config():
    collator = EcgMaskCollator.from_config(EcgJepaConfig(), seed=3)
    assert isinstance(collator, MaskCollator)
    assert (collator.patch_size, collator.keep_ratio, collator.min_block_size) == (25, (0.15, 0.25), 10)


def test_batch_shares_one_keep_ratio_and_partitions_the_patches():
    collator = EcgMaskCollator(seed=0)
    for batch in draw(collator, 20):
        context, target = batch["context_indices"], batch["target_indices"]
        assert context.dtype == target.dtype == torch.long
        assert context.shape[1] + target.shape[1] == 200  # targets = all masked patches
        assert 30 <= context.shape[1] <= 50  # ceil(0.15·200) … ceil(0.25·200)
        union = torch.cat([context, target], dim=1).sort(dim=1).values
        assert torch.equal(union, torch.arange(200).expand(8, -1))
        assert torch.equal(context, context.sort(dim=1).values) and torch.equal(target, target.sort(dim=1).values)
    batch = collator([{"input_values": torch.randn(12, 5000)}] * 4)
    assert batch["input_values"].shape == (4, 12, 5000) and batch["context_indices"].shape[0] == 4


def test_keep_ratio_is_uniform_in_the_paper_range():
    collator = EcgMaskCollator(seed=1)
    kept = torch.tensor([b["context_indices"].shape[1] for b in draw(collator, 300, batch_size=1)]).float()
    ratios = kept / 200
    assert ratios.min() >= 0.15 and ratios.max() <= 0.25 + 1 / 200
    assert abs(ratios.mean().item() - 0.2) < 0.006  # U(0.15, 0.25): mean 0.2, sd of the mean 0.0017
    assert ratios.max() - ratios.min() > 0.08  # spans the range, not a constant


def test_every_masked_run_is_at_least_ten_patches_and_all_positions_are_reachable():
    collator = EcgMaskCollator(seed=2)
    counts = torch.zeros(200)
    shortest = math.inf
    for batch in draw(collator, 60):
        for target in batch["target_indices"]:
            masked = torch.zeros(200, dtype=torch.bool)
            masked[target] = True
            counts += masked
            shortest = min(shortest, min(runs(masked)))
    assert shortest >= 10
    frequency = counts / (60 * 8)
    assert 0.7 < frequency.mean() < 0.85
    assert frequency.min() > 0.1 and frequency.max() < 0.97  # every position is masked and kept sometimes
    assert frequency[90:110].mean() > 0.85 > 0.5 > frequency[[0, -1]].mean()  # blocks rarely reach the ends
    assert (frequency - frequency.flip(0)).abs().mean() < 0.05  # no left/right preference


def test_samples_in_a_batch_get_different_masks_and_the_seed_replays():
    first = draw(EcgMaskCollator(seed=5), 3)
    again = draw(EcgMaskCollator(seed=5), 3)
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a["context_indices"], b["context_indices"])
    context = first[0]["context_indices"]
    assert len({tuple(row.tolist()) for row in context}) > 1


def test_short_crops_and_sample_time_mask_rules():
    collator = EcgMaskCollator(seed=0)
    batch = draw(collator, 1, samples=1250)[0]  # 2.5 s = 50 patches
    assert batch["context_indices"].shape[1] + batch["target_indices"].shape[1] == 50
    rng = np.random.default_rng(0)
    for num_keep in (1, 8, 13, 40):
        masked = sample_time_mask(50, num_keep, 10, rng)
        assert int((~masked).sum()) == num_keep
        assert min(runs(masked)) >= min(10, 50 - num_keep)


def test_bad_arguments():
    with pytest.raises(ValueError, match="keep_ratio"):
        EcgMaskCollator(keep_ratio=(0.3, 0.2))
    with pytest.raises(ValueError, match="strictly between"):
        sample_time_mask(50, 50, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="input_values"):
        EcgMaskCollator()([{"signal": torch.zeros(12, 100)}])
