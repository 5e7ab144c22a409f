"""Pretraining through jepa_core lowers the loss and keeps a probe-able encoder; the evaluation protocol."""

import numpy as np
import torch
from ecg_jepa import EcgJepaConfig, EcgJepaForPreTraining, EcgJepaModel
from ecg_jepa.data import SIMULATED_CONDITIONS, simulated_dataset
from ecg_jepa.domain import DOMAIN
from ecg_jepa.evaluation import multilabel_linear_probe, probe_records, strided_crops
from jepa_core.domain import get_domain
from jepa_core.training import TrainingArguments, pretrain
from transformers import AutoModel


def test_domain_is_found_through_the_entry_point():
    domain = get_domain("ecg-jepa")
    assert domain.config_class is EcgJepaConfig and domain.pretraining_class is EcgJepaForPreTraining
    assert {"XS", "S", "B", "tiny"} <= set(domain.presets)


def test_strided_crops_are_the_papers_seven_windows():
    record = torch.arange(5000.0).expand(12, -1)
    crops = strided_crops(record, 1250, 625)
    assert crops.shape == (7, 12, 1250)
    assert crops[:, 0, 0].tolist() == [0, 625, 1250, 1875, 2500, 3125, 3750]


def test_multilabel_probe_macro_auc():
    rng = np.random.default_rng(0)
    y = (rng.random((200, 3)) < 0.4).astype(float)
    x = np.concatenate([y + 0.3 * rng.normal(size=y.shape), rng.normal(size=(200, 5))], axis=1)
    result = multilabel_linear_probe(x[:120], y[:120], x[120:], y[120:])
    assert result["macro_auc"] > 0.95 and result["labels"] == [0, 1, 2]
    noise = multilabel_linear_probe(x[:120, 3:], y[:120], x[120:, 3:], y[120:])
    assert 0.3 < noise["macro_auc"] < 0.7


def test_short_pretraining_lowers_the_loss_and_keeps_a_probe_able_encoder(tmp_path):
    config = EcgJepaConfig.from_preset("tiny", max_steps=150)
    train = simulated_dataset("train", config, num_records=32)
    test = simulated_dataset("test", config, num_records=32)
    assert train.label_names == list(SIMULATED_CONDITIONS) and train[0]["input_values"].shape == (12, 1250)
    torch.manual_seed(0)
    model = EcgJepaForPreTraining(config)
    args = TrainingArguments.from_config(config, str(tmp_path), show_progress=False, save_every=10**6)
    metrics = pretrain(model, train, DOMAIN.collator(config, 0), args)
    assert metrics["final_loss"] < 0.92 * metrics["initial_loss"]  # 0.797 → 0.704 measured
    encoder = AutoModel.from_pretrained(tmp_path)
    assert isinstance(encoder, EcgJepaModel)
    pretrained = probe_records(encoder, train, test, config)
    torch.manual_seed(0)
    random_init = probe_records(EcgJepaModel(config), train, test, config)
    # Both separate the simulated conditions well above chance (AUC 0.5), and pretraining must not degrade the
    # encoder (a collapsed one scores near 0.5-0.6). A margin is NOT asserted: at this size it is within the seed
    # noise (pretrained − random init from −0.017 to +0.054 over the short runs in the package README; this run
    # 0.725 vs 0.714).
    assert pretrained["probe_macro_auc"] > 0.65 and random_init["probe_macro_auc"] > 0.65
    assert pretrained["probe_macro_auc"] > random_init["probe_macro_auc"] - 0.05
