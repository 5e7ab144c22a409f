"""T-JEPA feature-subset masks: the paper's rules, checked on the statistics of many draws."""

import pytest
import torch
from tjepa import TabularJepaConfig, TabularJepaMaskCollator
from tjepa.masking_tjepa import share_to_count_range

D = 30


def draws(collator: TabularJepaMaskCollator, count: int = 300, batch: int = 8):
    sample = {"numerical_features": torch.zeros(D), "categorical_features": torch.zeros(0, dtype=torch.long)}
    return [collator([sample] * batch) for _ in range(count)]


def test_size_ranges_follow_the_paper_shares():
    assert share_to_count_range(D, (0.136, 0.368)) == (4, 11)
    assert share_to_count_range(D, (0.156, 0.622)) == (5, 19)
    assert share_to_count_range(4, (0.05, 0.1)) == (1, 1)


def test_masks_are_disjoint_sorted_in_range_and_cover_every_feature():
    collator = TabularJepaMaskCollator.from_config(TabularJepaConfig(), seed=0)
    context_sizes, target_sizes, target_counts = set(), set(), torch.zeros(D)
    for batch in draws(collator):
        context, targets = batch["context_indices"], batch["target_indices"]
        assert context.dtype == targets.dtype == torch.long
        assert targets.shape[:2] == (8, 4)
        n_c, n_t = context.shape[1], targets.shape[2]
        assert 4 <= n_c <= 11 and 5 <= n_t <= 19 and n_c + n_t <= D
        context_sizes.add(n_c)
        target_sizes.add(n_t)
        assert (context.diff(dim=1) > 0).all() and (targets.diff(dim=2) > 0).all()
        assert context.min() >= 0 and targets.max() < D  # feature tokens only: the [REG] tokens are never indexed
        for row in range(8):
            assert not set(context[row].tolist()) & set(targets[row].flatten().tolist())
        target_counts += torch.bincount(targets.flatten(), minlength=D)
    assert context_sizes == set(range(4, 12))
    assert target_sizes <= set(range(5, 20)) and len(target_sizes) >= 12
    share = target_counts / target_counts.sum()
    assert share.min() > 0.8 / D and share.max() < 1.2 / D  # the last features are drawn too (the reference skips them)


def test_target_subsets_differ_and_may_overlap():
    collator = TabularJepaMaskCollator(D, seed=1)
    overlaps = distinct = 0
    for batch in draws(collator, 50):
        t = batch["target_indices"][0]
        distinct += int(not torch.equal(t[0], t[1]))
        overlaps += int(bool(set(t[0].tolist()) & set(t[1].tolist())))
    assert distinct >= 45 and overlaps > 0


def test_same_seed_same_masks_and_state_resume():
    a, b, c = (TabularJepaMaskCollator(D, seed=s) for s in (3, 3, 4))
    first, second, other = draws(a, 5), draws(b, 5), draws(c, 5)
    for x, y in zip(first, second, strict=True):
        assert torch.equal(x["context_indices"], y["context_indices"])
        assert torch.equal(x["target_indices"], y["target_indices"])
    assert any(
        x["context_indices"].shape != z["context_indices"].shape
        or not torch.equal(x["context_indices"], z["context_indices"])
        for x, z in zip(first, other, strict=True)
    )
    state = a.state_dict()
    after = draws(a, 1)[0]
    a.load_state_dict(state)
    assert torch.equal(draws(a, 1)[0]["target_indices"], after["target_indices"])


def test_collate_keeps_model_inputs_only():
    sample = {
        "numerical_features": torch.ones(D),
        "categorical_features": torch.zeros(0, dtype=torch.long),
        "labels": torch.tensor(1),
    }
    batch = TabularJepaMaskCollator(D)([sample, sample])
    assert set(batch) == {"numerical_features", "categorical_features", "context_indices", "target_indices"}
    assert batch["numerical_features"].shape == (2, D)


def test_impossible_shares_are_refused():
    with pytest.raises(ValueError, match="do not fit"):
        TabularJepaMaskCollator(3, context_share=(0.6, 0.9), target_share=(0.6, 0.9))
