"""The TS-JEPA processor (fitted on the train split, saved as preprocessor_config.json), the splits it standardises,
and the evaluation contract (window embeddings for the probes; the NMAE only where commands were recorded)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from jepa_core.evaluation import evaluate_encoder
from jepa_core.overrides import ConfigFieldError
from jepa_core.processing import PROCESSOR_FILE, load_processor
from transformers import AutoFeatureExtractor, AutoProcessor
from tsjepa import TimeSeriesJepaConfig, TimeSeriesJepaModel, TimeSeriesJepaProcessor
from tsjepa.data import default_dataset, default_processor, load_dataset, simulated_observations
from tsjepa.domain import DOMAIN
from tsjepa.evaluation import embed, extra_metrics, nmae


@pytest.fixture(scope="module")
def config():
    return TimeSeriesJepaConfig.from_preset(
        "tiny", num_train_trajectories=32, num_test_trajectories=8, actor_epochs=2, control_steps=30
    )


def test_processor_saves_loads_and_is_found_by_the_auto_classes(config, tmp_path):
    processor = default_processor(config)
    processor.save_pretrained(tmp_path)
    assert (tmp_path / PROCESSOR_FILE).is_file()
    config.save_pretrained(tmp_path)
    for loaded in (
        AutoProcessor.from_pretrained(tmp_path),
        AutoFeatureExtractor.from_pretrained(tmp_path),
        load_processor(tmp_path, TimeSeriesJepaProcessor),
    ):
        assert type(loaded) is TimeSeriesJepaProcessor
        for name in ("channel_mean", "channel_std", "command_mean", "command_std"):
            value = getattr(loaded, name)
            assert value.dtype == np.float32
            np.testing.assert_array_equal(value, getattr(processor, name))
        assert loaded.window_size == 16 and loaded.num_channels == 4 and loaded.num_commands == 1


def test_processor_accepts_arrays_tensors_lists_and_files_and_matches_the_dataset(config, tmp_path):
    processor = default_processor(config)
    raw = simulated_observations("test", config)[:3]
    expected = default_dataset("test", config, processor).tensors["series"][:3]
    torch.testing.assert_close(processor(raw)["series"], expected, rtol=0, atol=0)
    np.save(tmp_path / "one.npy", raw[0])
    np.savez(tmp_path / "three.npz", series=raw)
    for given in (torch.from_numpy(raw), list(raw), [r.tolist() for r in raw], str(tmp_path / "three.npz")):
        inputs = processor(given, return_tensors="pt")
        assert list(inputs) == ["series"]
        torch.testing.assert_close(inputs["series"], expected, rtol=0, atol=0)
    torch.testing.assert_close(processor(tmp_path / "one.npy")["series"], expected[:1], rtol=0, atol=0)
    assert isinstance(processor(raw[0], return_tensors="np")["series"], np.ndarray)
    model = TimeSeriesJepaModel(config).eval()
    with torch.no_grad():
        assert model(**processor(raw[0])).pooler_output.shape == (1, 32)
    with pytest.raises(ValueError, match="5 channels but the model was trained on 4"):
        processor(np.zeros((5, 20)))
    with pytest.raises(ValueError, match="needs at least 16"):
        processor(np.zeros((4, 10)))
    with pytest.raises(ValueError, match="NaN"):
        processor(np.full((4, 20), np.nan))


def test_splits_use_the_processor_they_are_given(config):
    train = default_dataset("train", config)
    assert isinstance(train.processor, TimeSeriesJepaProcessor) and len(train) == 32 * 70
    test = default_dataset("test", config, train.processor)
    assert test.processor is train.processor and len(test) == 8 and test.ids[0] == "test-0"
    everything = default_dataset("all", config, train.processor)
    assert len(everything) == 40 and everything.ids[:1] + everything.ids[-1:] == ["train-0", "test-7"]
    torch.testing.assert_close(everything.tensors["series"][32:], test.tensors["series"])
    assert train.class_names == test.class_names and len(train.class_names) == 4
    other = TimeSeriesJepaProcessor(channel_mean=[1.0] * 4, channel_std=[2.0] * 4)
    shifted = default_dataset("test", config, other).tensors["series"]
    torch.testing.assert_close(shifted, (torch.from_numpy(simulated_observations("test", config)) - 1) / 2)
    with pytest.raises(ValueError, match="split must be one of"):
        default_dataset("validation", config)


def test_embed_gives_probe_windows_and_the_last_window_for_all(config):
    encoder = TimeSeriesJepaModel(config).eval()
    train, everything = default_dataset("train", config), default_dataset("all", config)
    windows = embed(encoder, train)
    assert windows.features.shape == (64, 32) and windows.labels.shape == (64,)
    assert windows.ids[0].startswith("train-0@") and windows.ids[1].startswith("train-0@")
    np.testing.assert_array_equal(windows.labels[::2], train.labels.numpy())
    rows = embed(encoder, everything)
    assert rows.features.shape == (40, 32) and rows.ids == everything.ids
    with torch.no_grad():  # the "all" row of a trajectory is what the model gives for the whole series
        torch.testing.assert_close(rows.features[:5], encoder(everything.tensors["series"][:5]).pooler_output)


def episodes(count: int, commands: bool, labels=None) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for episode in range(count):
        for t in range(40):
            row = dict(episode=episode, time=t * 0.02, x=rng.normal() + episode % 2, x_dot=rng.normal(),
                       theta=rng.normal(), theta_dot=rng.normal())  # fmt: skip
            if commands:
                row["force"] = rng.normal()
            if labels is not None:
                row["label"] = labels[episode % len(labels)]
            rows.append(row)
    return pd.DataFrame(rows)


def test_without_commands_the_nmae_is_left_out(tmp_path):
    config = TimeSeriesJepaConfig.from_preset("tiny", trajectory_length=40, actor_epochs=2, test_fraction=0.25)
    path = tmp_path / "runs.csv"
    episodes(16, commands=False, labels=["calm", "windy"]).to_csv(path, index=False)
    train, test = load_dataset(str(path), "train", config), load_dataset(str(path), "test", config)
    assert not train.has_commands and train.class_names == ["calm", "windy"]
    encoder = TimeSeriesJepaModel(config).eval()
    assert extra_metrics(encoder, train, test) == {}
    result = evaluate_encoder(DOMAIN, encoder, train.processor, str(path))
    assert result.headline == "linear_probe_accuracy" and math.isfinite(result.headline_value)
    assert not any("nmae" in name for name in result.metrics)
    assert math.isnan(nmae(np.ones(3), np.zeros(3)))
    episodes(16, commands=True, labels=[0, 1]).to_csv(path, index=False)
    with_commands = extra_metrics(encoder, load_dataset(str(path), "train", config),
                                  load_dataset(str(path), "test", config))  # fmt: skip
    assert set(with_commands) == {"command_nmae_received", "command_nmae_horizon", "command_nmae_last_step"}
    assert all(math.isfinite(v) for v in with_commands.values())


def test_user_data_errors_name_the_config_field(tmp_path):
    config = TimeSeriesJepaConfig.from_preset("tiny", trajectory_length=40)
    frame = episodes(4, commands=True).rename(columns={"theta": "angle"})
    frame.to_csv(tmp_path / "renamed.csv", index=False)
    inferred = load_dataset(str(tmp_path / "renamed.csv"), "train", config)  # any names: every numeric column
    assert inferred.sizes["channel_columns"] == ["x", "x_dot", "angle", "theta_dot"]
    assert inferred.sizes["command_columns"] == ["force"] and inferred.processor.channel_names[2] == "angle"
    named = TimeSeriesJepaConfig.from_preset("tiny", trajectory_length=40, channel_columns=["x", "theta"])
    with pytest.raises(ConfigFieldError, match="no column") as error:
        load_dataset(str(tmp_path / "renamed.csv"), "train", named)
    assert error.value.field == "channel_columns"
    np.save(tmp_path / "five.npy", np.random.default_rng(0).normal(size=(3, 5, 40)))
    assert load_dataset(str(tmp_path / "five.npy"), "train", config).sizes["num_channels"] == 5  # sized by the data
    with pytest.raises(ConfigFieldError) as error:
        TimeSeriesJepaConfig.from_preset("tiny", trajectory_length=20)
    assert "--set trajectory_length=31" in error.value.cli_message()
