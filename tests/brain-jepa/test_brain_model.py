"""Encoder, positions, pretraining model, classification head: shapes, values, save/load, errors."""

import numpy as np
import pytest
import torch
from brain_jepa import (
    BrainJepaConfig,
    BrainJepaForPreTraining,
    BrainJepaForSequenceClassification,
    BrainJepaMaskCollator,
    BrainJepaModel,
)
from brain_jepa.data import default_dataset, embedded_brain_gradients
from brain_jepa.modeling_brain_jepa import BrainGradientPositions
from jepa_core.layers import sincos_1d
from transformers import AutoModel, AutoModelForPreTraining, AutoModelForSequenceClassification


def tiny(**overrides) -> BrainJepaConfig:
    return BrainJepaConfig.from_preset("tiny", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                       pred_hidden_size=16, pred_num_hidden_layers=1, **overrides)  # fmt: skip


def test_positions_are_time_sincos_and_minmaxed_gradient_map():
    positions = BrainGradientPositions(num_components=3, dim=8)
    gradients = torch.randn(5, 3)
    table = positions(gradients, num_time_patches=4).detach()
    assert table.shape == (20, 8)
    # token = roi * 4 + t: the first half is the time sin-cos of t, the second the ROI's mapped gradients
    np.testing.assert_allclose(table[:4, :4], sincos_1d(torch.arange(4), 4), atol=1e-6)
    np.testing.assert_allclose(table[6, :4], sincos_1d(torch.arange(4), 4)[2], atol=1e-6)
    roi = positions.gradient_proj(gradients).detach()
    expected = 2 * (roi - roi.min()) / (roi.max() - roi.min()) - 1
    np.testing.assert_allclose(table[::4, 4:], expected, atol=1e-6)
    assert table[:, 4:].min() == pytest.approx(-1) and table[:, 4:].max() == pytest.approx(1)
    assert torch.equal(table[4, 4:], table[7, 4:])  # same ROI, other time: same gradient half


def test_encoder_shapes_gradients_and_any_number_of_time_patches():
    config = tiny()
    model = BrainJepaModel(config).eval()
    np.testing.assert_allclose(model.brain_gradients.numpy(), embedded_brain_gradients(config))
    x = torch.randn(2, 31, 96)
    assert model(x).last_hidden_state.shape == (2, 31 * 6, 32)
    assert model(x[:, None]).last_hidden_state.shape == (2, 186, 32)  # (B, 1, R, T) as the reference
    assert model(torch.randn(2, 31, 160)).last_hidden_state.shape == (2, 310, 32)
    indices = torch.tensor([[0, 5, 7], [1, 2, 185]])
    kept = model(x, indices=indices).last_hidden_state
    assert kept.shape == (2, 3, 32)


def test_gradients_change_the_positions_and_are_saved(tmp_path):
    config = tiny()
    model = BrainJepaForPreTraining(config)
    new = np.random.default_rng(0).normal(size=(31, config.gradient_components)).astype(np.float32)
    model.set_brain_gradients(new)
    assert torch.equal(model.target.encoder.brain_gradients, torch.from_numpy(new))
    encoder = model.export_encoder().eval()
    x = torch.randn(2, 31, 96)
    expected = encoder(x).last_hidden_state
    encoder.save_pretrained(tmp_path)
    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded, BrainJepaModel)
    assert torch.equal(reloaded.brain_gradients, torch.from_numpy(new))
    torch.testing.assert_close(reloaded(x).last_hidden_state, expected, rtol=0, atol=0)
    model.save_pretrained(tmp_path / "pretraining")
    assert isinstance(AutoModelForPreTraining.from_pretrained(tmp_path / "pretraining"), BrainJepaForPreTraining)


def test_pretraining_forward_and_separate_predictor_gradient_map(tmp_path):
    config = tiny(objective="ema")  # the EMA target gets no gradient
    model = BrainJepaForPreTraining(config)
    assert model.predictor_positions() is None and not hasattr(model, "predictor_pos_embed")  # computed in forward
    assert model.gradient_positions().shape == (31 * 6, 16)
    assert model.predictor_positions_embed.gradient_proj is not model.context_encoder.positions.gradient_proj
    samples = [{"time_series": torch.randn(31, 96), "labels": torch.tensor(1)} for _ in range(4)]
    batch = BrainJepaMaskCollator(config, seed=0)(samples)
    output = model(**batch)
    assert output.predictions.shape == output.targets.shape == (4, 1, batch["target_indices"].shape[2], 32)
    assert output.loss.item() > 0 and torch.isfinite(output.loss)
    output.loss.backward()
    assert model.predictor_positions_embed.gradient_proj.weight.grad.abs().sum() > 0
    assert model.context_encoder.positions.gradient_proj.weight.grad.abs().sum() > 0
    assert model.target.encoder.positions.gradient_proj.weight.grad is None
    model.save_pretrained(tmp_path)  # state-dict names kept (predictor_positions_embed …): identical reload
    again = AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(again(**batch).loss, model.eval()(**batch).loss, rtol=0, atol=0)


def test_l2_loss_option():
    config = tiny(loss_type="l2", objective="ema")  # the loss is the prediction loss alone
    model = BrainJepaForPreTraining(config)
    batch = BrainJepaMaskCollator(config, 0)([{"time_series": torch.randn(31, 96)} for _ in range(2)])
    output = model(**batch)
    targets = torch.nn.functional.layer_norm(output.targets, output.targets.shape[-1:])
    assert output.loss.item() == pytest.approx((output.predictions - targets).pow(2).mean().item(), rel=1e-5)


def test_patch_embedding_starts_at_the_scale_of_the_positions():
    """LeCun init (std 1/√patch_size) in every model that holds the encoder, not the 0.02 of the other layers."""
    config = tiny(num_labels=3)
    for encoder in (
        BrainJepaModel(config),
        BrainJepaForPreTraining(config).context_encoder,
        BrainJepaForSequenceClassification(config).brain_jepa,
    ):
        assert encoder.patch_embed.weight.std().item() == pytest.approx(config.patch_size**-0.5, rel=0.1)
        assert encoder.positions.gradient_proj.weight.std().item() == pytest.approx(0.02, rel=0.2)


def test_sequence_classification_head_loads_pretrained_encoder(tmp_path):
    config = tiny()
    encoder = BrainJepaModel(config)
    encoder.save_pretrained(tmp_path)
    classifier = AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=3)
    assert isinstance(classifier, BrainJepaForSequenceClassification)
    torch.testing.assert_close(classifier.brain_jepa.patch_embed.weight, encoder.patch_embed.weight)
    output = classifier(torch.randn(4, 31, 96), labels=torch.tensor([0, 1, 2, 0]))
    assert output.logits.shape == (4, 3) and output.loss.item() > 0
    regression = BrainJepaForSequenceClassification(tiny(num_labels=1))
    assert regression(torch.randn(2, 31, 96), labels=torch.tensor([0.5, 1.0])).logits.shape == (2, 1)


@pytest.mark.parametrize("num_labels", [3, 1])
def test_fine_tuning_encoder_and_head_fits_labelled_subjects(num_labels):
    torch.manual_seed(0)
    dataset = default_dataset("train", tiny())
    x, labels = dataset.time_series[:16], dataset.labels[:16] if num_labels > 1 else dataset.traits[:16]
    model = BrainJepaForSequenceClassification(tiny(num_labels=num_labels)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.05)
    losses = []
    for _ in range(40):
        loss = model(x, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    final = np.mean(losses[-5:])
    # classification: well below chance cross-entropy (ln 3); regression: below predicting the mean
    baseline = losses[0] if num_labels > 1 else labels.var(unbiased=False).item()
    assert final < 0.6 * baseline
    assert model.brain_jepa.patch_embed.weight.grad.abs().sum() > 0  # the encoder is fine-tuned too


def test_bad_inputs_get_clear_errors():
    model = BrainJepaModel(tiny())
    with pytest.raises(ValueError, match="40 ROIs but the model's brain gradients cover 31"):
        model(torch.randn(1, 40, 96))
    with pytest.raises(ValueError, match="multiple of the patch size 16"):
        model(torch.randn(1, 31, 100))
    with pytest.raises(ValueError, match="multiple of the patch size 16"):
        model(torch.randn(1, 31, 8))
    nan = torch.randn(1, 31, 96)
    nan[0, 3, 10] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(nan)
    with pytest.raises(ValueError, match="no brain gradients"):
        BrainJepaModel(tiny(num_rois=40))(torch.randn(1, 40, 96))
    with pytest.raises(ValueError, match="do not fit"):
        model.set_brain_gradients(np.ones((30, 8)))
    with pytest.raises(ValueError, match="multiple of patch_size"):
        tiny(num_frames=100)
    with pytest.raises(ValueError, match="lower gradient_components"):
        tiny(gradient_components=31)
