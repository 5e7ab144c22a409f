"""The collator's views against the reference's rules: non-silent target, context = sum of a random subset of others."""

from collections import Counter

import pytest
import torch
from stem_jepa import StemJepaConfig, StemJepaProcessor, StemViewCollator


def config(**overrides):
    return StemJepaConfig.from_preset("tiny", num_frames=16, **overrides)  # 16 frames = 2560 samples


def sample(levels, instruments=None):
    """Stem s is a constant `levels[s]` (0 = silent) so a mix reveals which stems it holds."""
    stems = torch.stack([torch.full((2560,), float(level)) for level in levels])
    return {"stems": stems, "instruments": torch.tensor(instruments or list(range(len(levels))))}


def test_target_is_never_silent_and_context_is_a_uniform_subset_of_the_others():
    collator = StemViewCollator(config(), seed=0)
    levels = [0.2, 0.0, 0.4, 0.8]  # stem 1 silent; distinct levels identify a subset by its sum
    batch = collator.collate_samples([sample(levels)] * 600)
    assert batch["active"][0].tolist() == [True, False, True, True]
    targets, sizes = Counter(), Counter()
    for row in range(600):
        target, context = collator.choose_views(batch["instruments"][row], batch["active"][row])
        assert target != 1 and 1 not in context and target not in context and context == sorted(context)
        targets[target] += 1
        sizes[len(context)] += 1
    assert set(targets) == {0, 2, 3} and min(targets.values()) > 150  # uniform over the 3 active stems
    assert set(sizes) == {1, 2} and abs(sizes[1] - sizes[2]) < 90  # size uniform in 1..#others (2)


def test_views_are_log_mels_of_the_chosen_stem_and_the_summed_mix():
    cfg = config()
    collator = StemViewCollator(cfg, seed=3)
    levels = [0.2, 0.4, 0.8]
    out = collator([sample(levels)] * 8)
    processor = StemJepaProcessor.from_config(cfg)
    assert out["context_values"].shape == out["target_values"].shape == (8, 1, 80, 16)
    replay = StemViewCollator(cfg, seed=3)  # the same generator stream, replayed
    for row in range(8):
        target, context = replay.choose_views(torch.tensor([0, 1, 2]), torch.tensor([True] * 3))
        assert out["instrument"][row] == target
        mix = sum(levels[i] for i in context)
        torch.testing.assert_close(out["context_values"][row], processor.spectrogram(torch.full((2560,), mix))[0])
        expected = processor.spectrogram(torch.full((2560,), levels[target]))[0]
        torch.testing.assert_close(out["target_values"][row], expected)


@pytest.mark.parametrize("mode, expected", [("max", {2}), ("one", {1})])
def test_context_modes(mode, expected):
    collator = StemViewCollator(config(context_mode=mode), seed=0)
    sizes = {len(collator.choose_views(torch.arange(3), torch.ones(3, dtype=torch.bool))[1]) for _ in range(50)}
    assert sizes == expected


def test_songs_with_different_stem_counts_are_padded_with_silent_unknown_stems():
    collator = StemViewCollator(config(), seed=0)
    batch = collator([sample([0.5, 0.5]), sample([0.5, 0.5, 0.5, 0.5])])
    assert batch["instruments"].tolist() == [[0, 1, -1, -1], [0, 1, 2, 3]]
    assert batch["active"].tolist() == [[True, True, False, False], [True] * 4]
    assert batch["instrument"][0] in (0, 1)


def test_same_seed_same_views_and_bad_batches_are_refused():
    first = StemViewCollator(config(), seed=7)([sample([0.2, 0.4, 0.8, 0.3])] * 6)
    second = StemViewCollator(config(), seed=7)([sample([0.2, 0.4, 0.8, 0.3])] * 6)
    assert torch.equal(first["instrument"], second["instrument"])
    torch.testing.assert_close(first["context_values"], second["context_values"])
    collator = StemViewCollator(config(), seed=0)
    with pytest.raises(ValueError, match="fewer than 2 stems"):
        collator([sample([0.5])])
    with pytest.raises(ValueError, match="different lengths"):
        collator([sample([0.5, 0.5]), {"stems": torch.zeros(2, 100), "instruments": torch.tensor([0, 1])}])
