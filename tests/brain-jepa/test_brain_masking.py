"""Spatiotemporal masking: the paper's region rules and ratios, checked over many draws."""

import numpy as np
import pytest
import torch
from brain_jepa import BrainJepaConfig, BrainJepaMaskCollator


def paper_collator(**overrides) -> BrainJepaMaskCollator:
    return BrainJepaMaskCollator(BrainJepaConfig(**overrides), seed=0)  # 450 ROIs × 10 time patches


def draw(collator: BrainJepaMaskCollator, batches: int = 150):
    generator = torch.Generator().manual_seed(1)
    for _ in range(batches):
        sizes = collator.batch_sizes(generator)
        yield sizes, collator.sample_regions(sizes, generator)


def test_region_rules_on_the_paper_grid():
    collator = paper_collator()
    rows = []
    for sizes, regions in draw(collator):
        context = regions.context_mask((450, 10))
        context_rois = set(context.any(1).nonzero().squeeze(1).tolist())
        context_times = set(context.any(0).nonzero().squeeze(1).tolist())
        start, stop = regions.observation_window
        assert stop - start in (8, 9) and start >= 0 and stop <= 10
        assert context_times <= set(range(start, stop))
        # α: other ROIs than the context, inside the observation window
        alpha = set(regions.cross_roi_rois.tolist())
        assert not alpha & context_rois
        assert start <= regions.cross_roi_window[0] < regions.cross_roi_window[1] <= stop
        assert context_rois == set(regions.observation_rois.tolist()) - alpha
        for edge, columns in zip(regions.edges, ({7, 8, 9}, {0, 1, 2}), strict=True):
            cols = set(edge["columns"].tolist())
            assert cols <= columns and len(cols) <= 3
            assert not cols & context_times  # β/γ columns leave the observation for every ROI
            assert set(edge["cross_time_rois"].tolist()) <= context_rois  # β: observed ROIs, other times
            assert not set(edge["double_cross_rois"].tolist()) & context_rois  # γ: other ROIs, other times
        targets = regions.target_indices((450, 10))
        assert not set(targets.tolist()) & set(context.flatten().nonzero().squeeze(1).tolist())
        rows.append(
            (
                sizes["observation_rois"] / 450,
                sizes["cross_roi_rois"] / 450,
                sizes["cross_roi_time"],
                len(regions.edges[0]["columns"]),
                len(regions.edges[0]["cross_time_rois"]) / len(context_rois),
            )
        )
    obs, alpha, alpha_time, edge_columns, beta_share = np.array(rows).T
    assert obs.min() >= 0.84 - 1 / 450 and obs.max() < 1 and obs.mean() == pytest.approx(0.92, abs=0.02)
    assert alpha.min() >= 0.45 - 1 / 450 and alpha.max() <= 0.6 and alpha.mean() == pytest.approx(0.525, abs=0.015)
    assert set(alpha_time.astype(int)) <= {2, 3, 4, 5} and alpha_time.mean() == pytest.approx(3.5, abs=0.3)
    # int(10 · U(0, 0.4)) columns: 0, 1, 2 or 3, each with probability 1/4
    assert set(edge_columns.astype(int)) == {0, 1, 2, 3}
    assert np.bincount(edge_columns.astype(int)) / len(edge_columns) == pytest.approx([0.25] * 4, abs=0.1)
    assert beta_share.min() >= 0.15 - 0.02 and beta_share.max() <= 0.3
    assert beta_share.mean() == pytest.approx(0.225, abs=0.02)


def test_any_number_of_time_patches():
    collator = paper_collator(num_rois=40, num_frames=20 * 16)  # 20 time patches: edges are the outer 6
    for _, regions in draw(collator, 60):
        right, left = (set(edge["columns"].tolist()) for edge in regions.edges)
        assert right <= set(range(14, 20)) and left <= set(range(6))
        assert len(right) <= 6 and len(left) <= 6


def test_batch_masks_are_equal_length_sorted_disjoint_and_seeded():
    config = BrainJepaConfig.from_preset("tiny")
    samples = [{"time_series": torch.zeros(31, 96), "labels": torch.tensor(0)} for _ in range(16)]
    batch = BrainJepaMaskCollator(config, seed=3)(samples)
    context, targets = batch["context_indices"], batch["target_indices"]
    assert context.shape[0] == 16 and targets.shape[:2] == (16, 1) and context.dtype == torch.long
    assert torch.all(context.diff(dim=1) > 0) and torch.all(targets.diff(dim=2) >= 0)
    assert context.max() < 31 * 6 and targets.max() < 31 * 6
    assert context.shape[1] >= config.min_keep
    for c, t in zip(context, targets[:, 0], strict=True):
        assert not set(c.tolist()) & set(t.tolist())
    again = BrainJepaMaskCollator(config, seed=3)(samples)
    assert torch.equal(again["context_indices"], context) and torch.equal(again["target_indices"], targets)
    other = BrainJepaMaskCollator(config, seed=4)(samples)
    assert not torch.equal(other["target_indices"], targets) or not torch.equal(other["context_indices"], context)


def test_truncation_keeps_cross_roi_targets_first():
    config = BrainJepaConfig.from_preset("tiny")
    collator = BrainJepaMaskCollator(config, seed=0)
    generator = torch.Generator().manual_seed(0)
    regions = collator.sample_regions(collator.batch_sizes(generator), generator)
    targets = regions.target_indices(config.grid_shape)
    alpha = len(regions.cross_roi_rois) * (regions.cross_roi_window[1] - regions.cross_roi_window[0])
    rois, times = targets[:alpha] // 6, targets[:alpha] % 6
    assert set(rois.tolist()) == set(regions.cross_roi_rois.tolist())
    assert set(times.tolist()) == set(range(*regions.cross_roi_window))


def test_too_small_grid_is_refused():
    with pytest.raises(ValueError, match="at least 3 ROIs and 2 time patches"):
        BrainJepaMaskCollator(BrainJepaConfig(num_rois=31, num_frames=16, gradient_components=4))
