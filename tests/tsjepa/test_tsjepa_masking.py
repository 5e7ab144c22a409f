import torch
from tsjepa import FutureWindowCollator, TimeSeriesJepaConfig
from tsjepa.data import default_dataset


def test_views_are_current_window_and_shifted_future_windows():
    collator = FutureWindowCollator(window_size=16, prediction_horizon=15, seed=0)
    batch = {"series": torch.zeros(4000, 4, 100)}
    views = collator.sample_masks(batch)
    context, targets, commands = views["context_indices"], views["target_indices"], views["command_indices"]
    assert context.shape == (4000, 16) and targets.shape == (4000, 15, 16) and commands.shape == (4000, 15)
    assert (context.diff(dim=1) == 1).all()
    assert torch.equal(targets - context[:, None], torch.arange(1, 16)[None, :, None].expand(4000, 15, 16))
    anchors = context[:, -1]
    assert torch.equal(commands[:, 0], anchors) and torch.equal(commands[:, -1], anchors + 14)
    assert anchors.min() == 15 and anchors.max() == 84 and targets.max() == 99
    counts = torch.bincount(anchors - 15, minlength=70).float()
    assert counts.std() / counts.mean() < 0.25  # uniform over the 70 valid anchors


def test_collator_is_seeded_and_stacks_samples():
    config = TimeSeriesJepaConfig.from_preset("tiny", num_train_trajectories=16)
    dataset = default_dataset("train", config)
    samples = [dataset[i] for i in range(8)]
    first = FutureWindowCollator.from_config(config, seed=5)(samples)
    second = FutureWindowCollator.from_config(config, seed=5)(samples)
    assert first["series"].shape == (8, 4, 100) and first["commands"].shape == (8, 1, 100)
    assert torch.equal(first["context_indices"], second["context_indices"])
    other = FutureWindowCollator.from_config(config, seed=6)(samples)
    assert not torch.equal(first["context_indices"], other["context_indices"])
