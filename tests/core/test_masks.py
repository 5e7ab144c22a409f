import math

import pytest
import torch
from jepa_core.masks import BlockRule, MultiBlockMaskCollator, MultiBlockMaskSampler, apply_masks


def test_apply_masks_gathers_values():
    x = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)
    out = apply_masks(x, torch.tensor([[0, 4], [1, 2]]))
    assert torch.equal(out[0], x[0, [0, 4]]) and torch.equal(out[1], x[1, [1, 2]])
    multi = apply_masks(x, torch.tensor([[[0], [3]], [[2], [2]]]))
    assert multi.shape == (2, 2, 1, 3) and torch.equal(multi[0, 1, 0], x[0, 3])


@pytest.mark.parametrize(
    "indices, error",
    [
        (torch.tensor([[0, 5]]).expand(2, 2), IndexError),
        (torch.tensor([0, 1]), ValueError),
        (torch.zeros(2, 2), TypeError),
    ],
)
def test_apply_masks_rejects_bad_indices(indices, error):
    with pytest.raises(error):
        apply_masks(torch.zeros(2, 5, 3), indices)


def _ijepa_sampler(**kwargs):
    return MultiBlockMaskSampler((14, 14), **kwargs)


def test_sampler_statistics_follow_the_rules():
    sampler, generator = _ijepa_sampler(), torch.Generator().manual_seed(0)
    for _ in range(200):
        shape = sampler.block_shape(sampler.target, generator)
        scale_low, scale_high = 0.15 * 196, 0.2 * 196
        assert int(scale_low) - 14 <= math.prod(shape) <= scale_high + 14  # rounding of h and w
        assert 0.75 * 0.5 <= shape[0] / shape[1] <= 1.5 * 2
    for _ in range(20):
        context, targets = sampler(8, generator)
        assert context.shape[0] == 8 and targets.shape[:2] == (8, 4)
        assert context.shape[1] >= 10 and targets.shape[2] >= 10
        for b in range(8):
            assert torch.all(context[b][1:] > context[b][:-1])  # sorted, unique
            assert not set(context[b].tolist()) & set(targets[b].flatten().tolist())


def test_sampler_block_shapes_are_shared_by_the_batch():
    sampler = _ijepa_sampler(equalize="truncate")
    sampler.min_keep = 1
    _, targets = sampler(16, torch.Generator().manual_seed(1))
    # one shape per batch: every untruncated target block has the same number of tokens
    assert targets.shape[2] == math.prod(sampler.block_shape(sampler.target, torch.Generator().manual_seed(1)))


def test_blocks_reach_every_row_and_column():
    sampler, generator = _ijepa_sampler(), torch.Generator().manual_seed(0)
    covered = torch.zeros(14, 14, dtype=torch.bool)
    for _ in range(60):
        _, targets = sampler(8, generator)
        covered.view(-1)[targets.flatten()] = True
    assert covered.any(dim=1).all() and covered.any(dim=0).all()
    assert covered[-1].any() and covered[:, -1].any()
    full = MultiBlockMaskSampler((6, 6), target=BlockRule(1, (1.0, 1.0)), context=BlockRule(1, (1.0, 1.0)),
                                 min_keep=1, allow_overlap=True)  # fmt: skip
    context, targets = full(2, generator)
    assert context.shape[1] == 36 and targets.shape[2] == 36  # a block may span the whole grid


def test_same_seed_same_masks_and_overlap_switch():
    a = _ijepa_sampler()(4, torch.Generator().manual_seed(7))
    b = _ijepa_sampler()(4, torch.Generator().manual_seed(7))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    overlapping = _ijepa_sampler(allow_overlap=True)
    context, targets = overlapping(4, torch.Generator().manual_seed(0))
    shared = [set(context[b].tolist()) & set(targets[b].flatten().tolist()) for b in range(4)]
    assert any(shared)  # a context of 85–100 % of the grid must meet the targets


def test_sampler_on_1d_and_3d_grids():
    line = MultiBlockMaskSampler((50,), target=BlockRule(3, (0.1, 0.1)), min_keep=4)
    context, targets = line(5, torch.Generator().manual_seed(0))
    assert targets.shape == (5, 3, 5)
    assert torch.all(targets[..., 1:] - targets[..., :-1] == 1)  # 1-D blocks are contiguous runs
    cube = MultiBlockMaskSampler((4, 6, 6), min_keep=4)
    context, targets = cube(3, torch.Generator().manual_seed(0))
    assert context.max() < 144 and targets.shape[:2] == (3, 4)


def test_random_equalization_and_bad_rules():
    context, targets = _ijepa_sampler(equalize="random")(6, torch.Generator().manual_seed(0))
    assert context.shape[0] == 6
    with pytest.raises(ValueError, match="scale"):
        BlockRule(1, (0.0, 0.5))
    with pytest.raises(ValueError, match="min_keep"):
        MultiBlockMaskSampler((4, 4), target=BlockRule(4, (0.1, 0.1)), min_keep=10)(2, torch.Generator())


def test_collator_state_round_trip():
    collator = MultiBlockMaskCollator(_ijepa_sampler(), seed=3)
    samples = [{"pixel_values": torch.zeros(3, 4, 4)} for _ in range(2)]
    state = collator.state_dict()
    first = collator(samples)
    collator.load_state_dict(state)
    again = collator(samples)
    assert torch.equal(first["context_indices"], again["context_indices"])
    assert first["pixel_values"].shape == (2, 3, 4, 4)
    with pytest.raises(ValueError, match="empty"):
        collator([])
