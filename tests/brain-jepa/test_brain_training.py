"""A short pretraining run through jepa_core.training lowers the loss; the run reloads; evaluation reports probes."""

import json

import numpy as np
import pytest
import torch
from brain_jepa import BrainJepaConfig, BrainJepaForPreTraining, BrainJepaMaskCollator, BrainJepaModel
from brain_jepa.data import RoiTimeSeriesDataset, default_dataset, prepare_model, regression_probe
from brain_jepa.domain import DOMAIN
from jepa_core.evaluation import evaluate_encoder
from jepa_core.training import TrainingArguments, pretrain
from transformers import AutoModel


def test_pretraining_lowers_the_loss_and_reloads(tmp_path):
    config = BrainJepaConfig.from_preset(
        "tiny", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, pred_hidden_size=16,
        pred_num_hidden_layers=1, max_steps=60, train_batch_size=16, learning_rate=1.5e-3,
    )  # fmt: skip
    full = default_dataset("train", config)
    dataset = RoiTimeSeriesDataset(full.time_series[:128], full.labels[:128], full.traits[:128])
    model = BrainJepaForPreTraining(config)
    args = TrainingArguments.from_config(config, str(tmp_path), show_progress=False, save_every=1000)
    metrics = pretrain(model, dataset, BrainJepaMaskCollator(config, seed=0), args)
    assert metrics["steps"] == 60 and metrics["final_loss"] < 0.85 * metrics["initial_loss"]
    history = json.loads((tmp_path / "metrics.json").read_text())["history"]
    assert len(history) == 60
    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded, BrainJepaModel)
    x = full.time_series[:2]
    expected = model.export_encoder().eval()(x).last_hidden_state
    torch.testing.assert_close(reloaded(x).last_hidden_state, expected)


def test_pretrained_encoder_probes_timescales_better_than_random_init(tmp_path):
    """The tiny preset as `jepa demo` runs it (300 steps): the reloaded target encoder against a random-init one,
    both through the core evaluation with the processor saved in the run.
    Measured with the preset's SIGReg (root README's table, seeds 0-2): 0.773 / 0.730 / 0.777 vs random init
    0.465 / 0.461 / 0.477 (chance 0.33)."""
    config = BrainJepaConfig.from_preset("tiny")
    torch.manual_seed(0)
    model = BrainJepaForPreTraining(config)
    args = TrainingArguments.from_config(config, str(tmp_path), show_progress=False, save_every=1000, seed=0)
    train = default_dataset("train", config)
    pretrain(model, train, BrainJepaMaskCollator(config, seed=0), args)
    train.processor.save_pretrained(tmp_path)
    processor = DOMAIN.processor_class.from_pretrained(tmp_path)
    pretrained = evaluate_encoder(DOMAIN, AutoModel.from_pretrained(tmp_path).eval(), processor)
    torch.manual_seed(0)
    random_init = evaluate_encoder(DOMAIN, BrainJepaModel(config).eval(), processor)
    assert pretrained.headline == "linear_probe_accuracy"
    assert pretrained.headline_value > random_init.headline_value + 0.04 and pretrained.headline_value > 0.5


def test_evaluation_reports_probe_and_trait_metrics_and_domain_is_wired():
    config = BrainJepaConfig.from_preset("tiny", hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    result = evaluate_encoder(DOMAIN, BrainJepaModel(config))
    metrics = result.metrics
    assert list(metrics)[0] == "linear_probe_accuracy" == result.headline
    assert 0 <= metrics["linear_probe_accuracy"] <= 1 and -1 <= metrics["trait_pearson_r"] <= 1
    assert {"linear_probe_f1_macro", "knn_accuracy", "trait_r2"} <= set(metrics)
    assert DOMAIN.name == "brain-jepa" and DOMAIN.config_class.model_type == "jepa_brain"
    assert "tiny" in DOMAIN.presets and isinstance(DOMAIN.collator(config, 0), BrainJepaMaskCollator)


def test_prepare_model_computes_gradients_for_user_data_only():
    config = BrainJepaConfig.from_preset("tiny", hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    embedded = default_dataset("test", config)
    model = BrainJepaForPreTraining(config)
    before = model.context_encoder.brain_gradients.clone()
    prepare_model(model, embedded)
    assert torch.equal(model.context_encoder.brain_gradients, before)  # the embedded cohort's, built in
    user = RoiTimeSeriesDataset(embedded.time_series[:64])
    prepare_model(model, user)
    gradients = model.context_encoder.brain_gradients
    assert not torch.equal(gradients, before) and torch.equal(gradients, model.target.encoder.brain_gradients)


def test_regression_probe_reports_pearson_rho_and_r2():
    rng = np.random.default_rng(0)
    traits = rng.uniform(0, 1, 200)
    informative = np.stack([traits + rng.normal(0, 0.05, 200), rng.normal(size=200)], axis=1)
    result = regression_probe(informative[:150], traits[:150], informative[150:], traits[150:])
    expected = np.corrcoef(informative[150:, 0], traits[150:])[0, 1]
    assert result["trait_pearson_r"] == pytest.approx(expected, abs=0.02) and result["trait_r2"] > 0.9
    noise = rng.normal(size=(200, 2))
    assert abs(regression_probe(noise[:150], traits[:150], noise[150:], traits[150:])["trait_pearson_r"]) < 0.3
