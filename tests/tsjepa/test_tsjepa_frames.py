import numpy as np
import pytest
import torch
from jepa_core.training import TrainingArguments, pretrain
from transformers import AutoModel
from tsjepa import FutureWindowCollator, TimeSeriesJepaConfig, TimeSeriesJepaForPreTraining, TimeSeriesJepaModel
from tsjepa.cartpole import render_frames
from tsjepa.data import default_dataset, simulated_split
from tsjepa.evaluation import control_loop, packet_bits


@pytest.fixture(scope="module")
def config():
    return TimeSeriesJepaConfig.from_preset(
        "tiny_frames", num_train_trajectories=64, num_test_trajectories=8, max_steps=40, train_batch_size=32
    )


def test_frames_config_and_dataset(config):
    assert config.observation == "frames" and config.num_channels == 16 * 32 and config.window_size == 2
    dataset = default_dataset("train", config)
    series = dataset.tensors["series"]
    assert series.shape == (64, 512, config.trajectory_length)
    runs = simulated_split("train", config)  # frames are drawn from the true states, pixels kept in [0, 1]
    expected = render_frames(runs.states[5, :, 7], runs.half_lengths[5], 16, 32).reshape(-1)
    torch.testing.assert_close(series[5, :, 7], torch.from_numpy(expected))
    with pytest.raises(ValueError, match="observation must be one of"):
        TimeSeriesJepaConfig(observation="video")


def test_frame_encoder_trains_and_round_trips(config, tmp_path):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = TimeSeriesJepaForPreTraining(config)
    assert isinstance(model.context_encoder.encoder.stem[0], torch.nn.Conv2d)
    args = TrainingArguments.from_config(config, str(tmp_path), show_progress=False, rankme_every=1000)
    metrics = pretrain(model, default_dataset("train", config), FutureWindowCollator.from_config(config), args)
    assert metrics["final_loss"] < 0.7 * metrics["initial_loss"], metrics
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is TimeSeriesJepaModel and loaded.config.observation == "frames"
    exported = model.export_encoder().eval()
    frames = default_dataset("test", config).tensors["series"][:3, :, :10]
    with torch.no_grad():
        expected, got = exported(frames).pooler_output, loaded(frames).pooler_output
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
        assert got.shape == (3, 32) and not torch.allclose(got[0], got[1])
    with pytest.raises(ValueError, match="512 channels = 16 × 32 pixels"):
        loaded(torch.rand(2, 4, 10))


def test_frames_make_raw_observations_expensive(config):
    # a stack of two 16 × 32 frames at 8 bits costs far more than a 32-d embedding
    assert packet_bits("raw_window", config) == 2 * 512 * 8 + 32
    assert packet_bits("tsjepa", config) == 32 * 8 + 32
    processor = default_dataset("train", config).processor
    np.testing.assert_array_equal(processor.channel_std, np.ones(512, np.float32))
    model = TimeSeriesJepaModel(config).eval()
    with pytest.raises(ValueError, match="cannot carry one quantised packet"):
        control_loop("raw_window", model, None, processor, config, 1000, 4, 0.0)
