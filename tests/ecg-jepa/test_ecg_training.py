"""Pretraining through jepa_core lowers the loss and keeps a probe-able encoder; the evaluation protocol."""

import numpy as np
import torch
from ecg_jepa import (
    EcgJepaConfig,
    EcgJepaForPreTraining,
    EcgJepaModel,
    EcgJepaPerLeadConfig,
    EcgJepaPerLeadForPreTraining,
    EcgJepaProcessor,
)
from ecg_jepa.data import SIMULATED_CONDITIONS, simulated_dataset
from ecg_jepa.domain import DOMAIN
from ecg_jepa.evaluation import embed, multilabel_linear_probe, strided_crops
from jepa_core.domain import domain_for_model_type, get_domain
from jepa_core.training import TrainingArguments, pretrain
from transformers import AutoModel, AutoModelForPreTraining


def test_domain_is_found_through_the_entry_point_for_both_architectures():
    domain = get_domain("ecg-jepa")
    assert domain.config_class is EcgJepaConfig and domain.processor_class is EcgJepaProcessor
    assert {"XS", "S", "B", "tiny"} <= set(domain.presets)
    assert domain.model_types == ("jepa_ecg", "jepa_ecg_per_lead")
    assert domain.config_class_for("tiny_per_lead") is EcgJepaPerLeadConfig
    assert domain_for_model_type("jepa_ecg_per_lead").name == "ecg-jepa"
    fused, per_lead = EcgJepaConfig.from_preset("tiny"), EcgJepaPerLeadConfig.from_preset("tiny_per_lead")
    assert domain.pretraining_class is EcgJepaForPreTraining
    # the CLI builds either architecture from its config, as `jepa pretrain` does
    assert type(AutoModelForPreTraining.from_config(fused)) is EcgJepaForPreTraining
    assert type(AutoModelForPreTraining.from_config(per_lead)) is EcgJepaPerLeadForPreTraining


def test_splits_share_the_train_processor_and_all_is_every_record():
    config = EcgJepaConfig.from_preset("tiny")
    train = simulated_dataset("train", config, num_records=4)
    test = simulated_dataset("test", config, train.processor, num_records=3)
    everything = simulated_dataset("all", config, train.processor, num_records=2)
    assert test.processor is train.processor and train.class_names == list(SIMULATED_CONDITIONS)
    assert everything.ids == ["train-0000", "train-0001", "test-0000", "test-0001"] and not everything.random_crop
    torch.testing.assert_close(everything.records[2], test.records[0])
    embedded = embed(EcgJepaModel(config), everything)
    assert embedded.features.shape == (4, 64) and embedded.labels.shape == (4, 5) and embedded.ids == everything.ids


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


def test_short_pretraining_beats_random_init_on_the_simulated_rhythms(tmp_path):
    # the tiny preset (SIGReg on the context tokens; with the paper's EMA 0.998 → 0.9995 the margin was +0.023 to
    # +0.048 over seeds 0-4, a faster 0.99 → 0.999 gave half that), 150 steps
    config = EcgJepaConfig.from_preset("tiny", max_steps=150)
    train = simulated_dataset("train", config, num_records=64)
    test = simulated_dataset("test", config, num_records=256)
    assert train.label_names == list(SIMULATED_CONDITIONS) and train[0]["input_values"].shape == (12, 1250)
    torch.manual_seed(0)
    model = EcgJepaForPreTraining(config)
    args = TrainingArguments.from_config(config, str(tmp_path), show_progress=False, save_every=10**6)
    metrics = pretrain(model, train, DOMAIN.collator(config, 0), args)
    assert metrics["final_loss"] < 0.8 * metrics["initial_loss"]  # 1.84 → 0.74 measured (prediction + SIGReg)
    encoder = AutoModel.from_pretrained(tmp_path)
    assert isinstance(encoder, EcgJepaModel)
    headline = DOMAIN.headline_metric  # the crop-level probe (`jepa evaluate`'s extra metric), as measured below
    assert headline == "probe_macro_auc"
    pretrained = DOMAIN.extra_metrics(encoder, train, test)[headline]
    torch.manual_seed(0)
    random_init = DOMAIN.extra_metrics(EcgJepaModel(config), train, test)[headline]
    # Measured over seeds 0-2 (this exact setting): random init 0.591-0.595, pretrained 0.645-0.656, margin +0.050 to
    # +0.061. A 0.015 margin is 4x the seed-to-seed spread of random init on these 256 records.
    assert pretrained > random_init + 0.015, (pretrained, random_init)
