import numpy as np
import pytest
import torch
from jepa_core.evaluation import linear_probe
from jepa_core.training import TrainingArguments, pretrain
from transformers import AutoModel
from tsjepa import FutureWindowCollator, TimeSeriesJepaConfig, TimeSeriesJepaForPreTraining, TimeSeriesJepaModel
from tsjepa.data import default_dataset, default_processor
from tsjepa.evaluation import control_loop, embed


def probe_accuracy(encoder, config):
    """The headline: a linear probe of the pole-length class on the windows the domain's `embed` gives."""
    train = embed(encoder, default_dataset("train", config))
    test = embed(encoder, default_dataset("test", config))
    return linear_probe(train.features, train.labels, test.features, test.labels)["accuracy"]


@pytest.fixture
def one_thread():
    """Small convolutions thrash with 2 threads on a busy 2-core machine; one thread is several times faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_pretraining_lowers_loss_and_beats_random_init_on_the_plant_probe(tmp_path, one_thread):
    config = TimeSeriesJepaConfig.from_preset(
        "tiny", max_steps=200, num_train_trajectories=256, num_test_trajectories=128
    )
    torch.manual_seed(0)
    random_accuracy = probe_accuracy(TimeSeriesJepaModel(config), config)
    args = TrainingArguments.from_config(config, str(tmp_path), show_progress=False, rankme_every=100)
    metrics = pretrain(TimeSeriesJepaForPreTraining(config), default_dataset("train", config),
                       FutureWindowCollator.from_config(config), args)  # fmt: skip
    assert metrics["final_loss"] < 0.5 * metrics["initial_loss"]
    encoder = AutoModel.from_pretrained(tmp_path)
    assert type(encoder) is TimeSeriesJepaModel
    accuracy = probe_accuracy(encoder, config)
    assert accuracy > random_accuracy + 0.05, (accuracy, random_accuracy)


def test_control_loop_expert_and_capacity_errors():
    config = TimeSeriesJepaConfig.from_preset("tiny", control_steps=400)
    processor = default_processor(config)
    expert = control_loop("expert", None, None, processor, config, 10_000, 8, 0.0)
    assert expert["upright"] == 1.0 and expert["within_tolerance"] > 0.5 and expert["bits_per_step"] == 0.0
    with pytest.raises(ValueError, match="cannot carry one quantised packet"):
        control_loop("tsjepa", TimeSeriesJepaModel(config), None, processor, config, 100, 8, 0.0)
    with pytest.raises(ValueError, match="policy must be one of"):
        control_loop("telepathy", None, None, processor, config, 10_000, 8, 0.0)
    with pytest.raises(ValueError, match="control_steps"):
        control_loop("expert", None, None, processor, config.from_preset("tiny", control_steps=16), 10_000, 8, 0.0)
    assert np.isfinite(expert["within_tolerance"])
