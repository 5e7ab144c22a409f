"""Local-window masking: shapes, window geometry and the statistics of the paper's rules."""

import pytest
import torch
from sar_jepa import SarJepaConfig, SarJepaMaskCollator


@pytest.fixture(scope="module")
def paper():
    return SarJepaConfig()  # 224 px, patch 16 → 14×14 grid, 4 windows of 7×7, 80 % masked


def masks(config, batch_size=8, seed=0):
    return SarJepaMaskCollator(config, seed).sample_masks({"pixel_values": torch.zeros(batch_size, 1, 2, 2)})


def test_shapes_and_counts_are_the_papers(paper):
    out = masks(paper)
    assert out["window_indices"].shape == (8, 4, 49)
    assert out["target_indices"].shape == (8, 4, 39)  # int(49 · 0.8)
    assert out["context_indices"].shape == (8, 4, 10)
    assert all(v.dtype == torch.int64 for v in out.values())


def test_windows_are_contiguous_squares_split_into_disjoint_context_and_target(paper):
    out = masks(paper)
    for b in range(8):
        for w in range(4):
            window = out["window_indices"][b, w]
            rows, cols = window // 14, window % 14
            assert rows.unique().tolist() == list(range(int(rows.min()), int(rows.min()) + 7))
            assert cols.unique().tolist() == list(range(int(cols.min()), int(cols.min()) + 7))
            context, target = out["context_indices"][b, w], out["target_indices"][b, w]
            assert torch.equal(torch.cat([context, target]).sort().values, window)
            assert torch.equal(target, target.sort().values) and torch.equal(context, context.sort().values)


def test_window_positions_are_shared_by_the_batch_with_distinct_tops_and_lefts(paper):
    out = masks(paper)
    first = out["window_indices"][:, :, 0]
    assert (first == first[0]).all()
    tops, lefts = first[0] // 14, first[0] % 14
    assert len(tops.unique()) == 4 and len(lefts.unique()) == 4
    assert tops.max() <= 7 and lefts.max() <= 7


def test_window_offsets_are_uniform_over_the_8_positions(paper):
    collator = SarJepaMaskCollator(paper, seed=1)
    draws = 4000
    tops = torch.cat([collator.window_positions()[0] for _ in range(draws)])
    counts = torch.bincount(tops, minlength=8).float()
    # each batch takes 4 of the 8 offsets without replacement: every offset appears with probability 1/2
    expected = draws / 2
    assert ((counts - expected).abs() < 5 * (draws * 0.25) ** 0.5).all()
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 30  # far below what a non-uniform rule gives; 99.99 % quantile of χ²(7) is ≈ 29.9


def test_mask_is_random_per_sample_and_window_with_rate_39_of_49(paper):
    out = masks(paper, batch_size=256, seed=2)
    windows, targets = out["window_indices"], out["target_indices"]
    masked = (windows[..., :, None] == targets[..., None, :]).any(-1).float()  # (B, W, 49) by window position
    assert (masked.sum(-1) == 39).all()
    rate = masked.mean(dim=(0, 1))
    assert ((rate - 39 / 49).abs() < 0.06).all()  # every in-window position is masked equally often
    assert len({tuple(row.tolist()) for row in masked[:, 0]}) == 256  # different per sample
    assert not torch.equal(masked[:, 0], masked[:, 1])  # and per window


def test_seeded_and_resumable(paper):
    a, b = SarJepaMaskCollator(paper, 5), SarJepaMaskCollator(paper, 5)
    batch = {"pixel_values": torch.zeros(2, 1, 1, 1)}
    first, second = a.sample_masks(batch), b.sample_masks(batch)
    assert all(torch.equal(first[key], second[key]) for key in first)
    state = a.state_dict()
    expected = a.sample_masks(batch)
    b.load_state_dict(state)
    assert torch.equal(b.sample_masks(batch)["target_indices"], expected["target_indices"])


def test_tiny_preset_and_bad_configs():
    tiny = SarJepaConfig.from_preset("tiny")
    out = masks(tiny)
    assert out["window_indices"].shape == (8, 4, 16) and out["target_indices"].shape == (8, 4, 12)
    assert out["window_indices"].max() < tiny.grid_size**2
    with pytest.raises(ValueError, match="distinct positions"):
        SarJepaConfig(image_size=128, window_size=7)  # 8×8 grid leaves 2 offsets for 4 windows
    with pytest.raises(ValueError, match="keep at least one"):
        SarJepaConfig(window_mask_ratio=1.0)
