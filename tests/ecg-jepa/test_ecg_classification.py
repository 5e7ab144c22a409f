"""The attentive-pooling classifier: head values, crop averaging, fine-tuning, save → load, the protocol end to end."""

import numpy as np
import pytest
import torch
from ecg_jepa import EcgJepaConfig, EcgJepaForSequenceClassification, EcgJepaModel
from ecg_jepa.data import EcgRecords
from ecg_jepa.evaluation import strided_crops
from ecg_jepa.finetuning import RECIPES, FinetuneArguments, finetune, finetune_pretrained, macro_auc, predict
from transformers import AutoModelForSequenceClassification


def tiny(**overrides) -> EcgJepaConfig:
    return EcgJepaConfig.from_preset("tiny", num_labels=2, **overrides)


def labelled_records(count: int, seed: int, samples: int = 2500) -> EcgRecords:
    """Label 0: a 10-Hz oscillation on lead II; label 1: a positive offset on V1 — both learnable from any crop."""
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.rand(count, 2, generator=generator) < 0.5).float()
    t = torch.arange(samples) / 500
    records = []
    for label in labels:
        record = torch.randn(12, samples, generator=generator)
        record[1] += 2 * label[0] * torch.sin(2 * torch.pi * 10 * t)
        record[6] += 1.5 * label[1]
        records.append(record)
    return EcgRecords(records, 1250, labels, ["oscillation", "offset"])


def test_attentive_pooler_is_one_query_cross_attention_projected_to_the_classes():
    torch.manual_seed(0)
    model = EcgJepaForSequenceClassification(tiny()).eval()
    pooler = model.pooler
    assert pooler.query_token.shape == (1, 1, 64) and pooler.proj.out_features == 2
    assert 0.01 < pooler.query_token.std().item() < 0.03  # trunc-normal 0.02, as the reference
    assert not [name for name, _ in model.named_parameters() if name.endswith("bias")]  # no biases, as the encoder
    tokens = torch.randn(3, 51, 64)
    heads, head_dim = 4, 16
    query = pooler.q(pooler.query_token).reshape(1, heads, head_dim).transpose(0, 1)  # (heads, 1, head_dim)
    key, value = pooler.kv(tokens).reshape(3, 51, 2, heads, head_dim).permute(2, 0, 3, 1, 4)
    weights = (query @ key.transpose(-2, -1) / head_dim**0.5).softmax(-1)  # (3, heads, 1, 51)
    expected = pooler.proj((weights @ value).reshape(3, 64))
    torch.testing.assert_close(pooler(tokens), expected)


def test_crop_logits_are_averaged_per_record():
    torch.manual_seed(0)
    model = EcgJepaForSequenceClassification(tiny()).eval()
    record = torch.randn(12, 5000)
    crops = strided_crops(record, 1250, 625)
    assert crops.shape == (7, 12, 1250)  # 10 s → the paper's 7 crops at a 1.25-s stride
    per_crop = model(crops).logits
    averaged = model(torch.stack([crops, crops.flip(0)])).logits
    torch.testing.assert_close(averaged, per_crop.mean(0).expand(2, -1))
    dataset = EcgRecords([record, record[:, :2500]], 1250, torch.zeros(2, 2))
    expected = torch.stack([per_crop.mean(0), per_crop[:3].mean(0)]).sigmoid()  # 5 s → 3 crops
    torch.testing.assert_close(predict(model, dataset), expected)


def test_multilabel_loss_and_bad_labels():
    torch.manual_seed(0)
    model = EcgJepaForSequenceClassification(tiny())
    x, labels = torch.randn(4, 12, 1250), torch.tensor([[1.0, 0.0], [0, 1], [1, 1], [0, 0]])
    output = model(x, labels=labels)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(output.logits, labels)
    torch.testing.assert_close(output.loss, expected)
    with pytest.raises(ValueError, match="expected multi-hot"):
        model(x, labels=torch.tensor([0, 1, 1, 0]))


def test_macro_auc_skips_labels_without_both_classes():
    targets = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 1]])
    scores = np.array([[0.9, 0.1, 0.2], [0.2, 0.5, 0.3], [0.6, 0.2, 0.4], [0.7, 0.3, 0.5]])
    assert macro_auc(targets, scores) == pytest.approx(0.75)  # only label 0 is defined: (1 + 0.5) / 2


def test_finetuning_lowers_the_loss_and_keeps_the_best_validation_state():
    train, val = labelled_records(24, 0), labelled_records(12, 1)
    torch.manual_seed(0)
    model = EcgJepaForSequenceClassification(tiny())
    args = FinetuneArguments(frozen=False, steps=40, batch_size=16, learning_rate=1e-3, eval_every=10)
    metrics = finetune(model, train, val, val, args)
    assert metrics["final_loss"] < 0.8 * metrics["initial_loss"]
    assert metrics["val_macro_auc"] > 0.7 and metrics["best_step"] % 10 == 0
    assert metrics["test_macro_auc"] == pytest.approx(metrics["val_macro_auc"])  # the restored state is the best


def test_frozen_recipe_trains_only_the_head():
    train = labelled_records(8, 0)
    torch.manual_seed(0)
    model = EcgJepaForSequenceClassification(tiny())
    encoder_before = {k: v.clone() for k, v in model.ecg_jepa.state_dict().items()}
    head_before = model.pooler.proj.weight.clone()
    finetune(model, train, train, args=FinetuneArguments(steps=3, batch_size=4, eval_every=3))
    for name, value in model.ecg_jepa.state_dict().items():
        torch.testing.assert_close(value, encoder_before[name])
    assert not torch.equal(model.pooler.proj.weight, head_before)
    assert RECIPES["linear"].frozen and not RECIPES["finetune_after_linear"].frozen


def test_loads_a_pretrained_encoder_and_saves_and_reloads_identically(tmp_path):
    torch.manual_seed(0)
    encoder = EcgJepaModel(EcgJepaConfig.from_preset("tiny")).eval()
    encoder.save_pretrained(tmp_path / "encoder")
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "encoder", num_labels=3).eval()
    assert isinstance(model, EcgJepaForSequenceClassification) and model.pooler.proj.out_features == 3
    x = torch.randn(2, 12, 1250)
    torch.testing.assert_close(model.ecg_jepa(x).last_hidden_state, encoder(x).last_hidden_state)
    model.save_pretrained(tmp_path / "classifier")
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "classifier").eval()
    torch.testing.assert_close(reloaded(x).logits, model(x).logits)


def test_finetune_pretrained_runs_the_protocol_on_an_npz(tmp_path):
    train, test = labelled_records(12, 0), labelled_records(6, 1)
    signals = torch.stack(train.records + test.records + test.records).numpy()
    labels = torch.cat([train.labels, test.labels, test.labels]).numpy()
    split = np.array(["train"] * 12 + ["val"] * 6 + ["test"] * 6)
    np.savez(tmp_path / "data.npz", signals=signals, sampling_rate=500, labels=labels, split=split)
    torch.manual_seed(0)
    EcgJepaModel(EcgJepaConfig.from_preset("tiny")).save_pretrained(tmp_path / "run")
    data, linear_dir = str(tmp_path / "data.npz"), str(tmp_path / "linear")
    short = {"steps": 4, "batch_size": 4, "eval_every": 2}
    metrics = finetune_pretrained(str(tmp_path / "run"), data, output_dir=linear_dir, **short)
    assert metrics["recipe"] == "linear" and metrics["arguments"]["frozen"]
    assert metrics["test_macro_auc"] == pytest.approx(metrics["val_macro_auc"])  # val and test hold the same records
    assert (tmp_path / "linear" / "preprocessor_config.json").is_file()
    # the paper's second stage starts from the linear probe's classifier: same val AUC before any step
    tuned = finetune_pretrained(linear_dir, data, "finetune_after_linear", steps=1, batch_size=2, learning_rate=0.0)
    assert tuned["val_macro_auc"] == pytest.approx(metrics["val_macro_auc"])
    with pytest.raises(ValueError, match="recipe must be one of"):
        finetune_pretrained(str(tmp_path / "run"), data, recipe="nope")
    np.savez(tmp_path / "unlabelled.npz", signals=signals, sampling_rate=500, split=split)
    with pytest.raises(ValueError, match="has no labels"):
        finetune_pretrained(str(tmp_path / "run"), str(tmp_path / "unlabelled.npz"))
