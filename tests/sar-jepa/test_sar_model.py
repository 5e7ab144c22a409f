"""Encoder, pretraining and classification models: relative positions, mask tokens, loss, save → load, fine-tuning."""

import json

import pytest
import torch
from sar_jepa import (
    SarJepaConfig,
    SarJepaForImageClassification,
    SarJepaForPreTraining,
    SarJepaMaskCollator,
    SarJepaModel,
)
from sar_jepa.finetuning import accuracy, finetune_classifier
from sar_jepa.modeling_sar_jepa import num_relative_buckets, piecewise_bucket, relative_buckets
from sar_jepa.processor_sar_jepa import multiscale_gradient_targets
from transformers import AutoModel, AutoModelForImageClassification, AutoModelForPreTraining


@pytest.fixture(scope="module")
def config():
    return SarJepaConfig.from_preset("tiny", hidden_size=32, num_hidden_layers=2, pred_hidden_size=32)


def randomize_relative_tables(model):
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("relative_keys"):
                param.normal_(0, 0.5)


def test_piecewise_buckets_follow_irpe_with_ratio_1_9():
    offsets = torch.arange(-13, 14)
    buckets = piecewise_bucket(offsets, 1.9)
    assert buckets[13:].tolist() == [0, 1, 2, 2, 3] + [3] * 9  # exact to ±1, log-compressed, capped at 3
    assert torch.equal(buckets, -buckets.flip(0))
    assert num_relative_buckets(1.9) == 49


def test_relative_buckets_of_a_window_are_translation_invariant():
    grid, inside = 14, torch.arange(7)
    window = (inside[:, None] * grid + inside[None, :]).flatten()
    at_origin = relative_buckets(window[None], grid, 1.9)
    shifted = relative_buckets((window + 5 * grid + 3)[None], grid, 1.9)
    assert torch.equal(at_origin, shifted)
    assert at_origin.unique().numel() == 49 and (at_origin.diagonal(dim1=1, dim2=2) == 24).all()


def test_encoder_shapes_full_image_and_windows(config):
    model = SarJepaModel(config).eval()
    pixels = torch.rand(2, 1, 32, 32)
    full = model(pixels).last_hidden_state
    assert full.shape == (2, 1 + 64, 32)
    windows = SarJepaMaskCollator(config, 0).sample_masks({"pixel_values": pixels})["window_indices"]
    out = model(pixels, indices=windows).last_hidden_state
    assert out.shape == (2 * 4, 1 + 16, 32)


def test_relative_positions_make_windows_translation_equivariant(config):
    model = SarJepaModel(config).eval()
    randomize_relative_tables(model)
    pixels = torch.rand(1, 1, 32, 32)
    shifted = torch.roll(pixels, shifts=(4, 8), dims=(2, 3))  # one patch down, two right
    inside = torch.arange(4)
    window = (inside[:, None] * 8 + inside[None, :]).flatten()[None]
    a = model(pixels, indices=window).last_hidden_state
    b = model(shifted, indices=window + 8 + 2).last_hidden_state
    assert torch.allclose(a, b, atol=1e-5)
    # the relative table matters: transposing the window's patches is not just a re-ordering of the outputs
    transposed = pixels.clone()
    region = pixels[0, 0, :16, :16].reshape(4, 4, 4, 4)  # (patch row, y, patch column, x)
    transposed[0, 0, :16, :16] = region.permute(2, 1, 0, 3).reshape(16, 16)
    order = torch.arange(16).reshape(4, 4).T.flatten()
    moved = model(transposed, indices=window).last_hidden_state[:, 1:][:, order]
    assert not torch.allclose(moved, a[:, 1:], atol=1e-3)
    blind = SarJepaModel(config).eval()  # relative tables at their zero init: no position information yet
    plain = blind(pixels, indices=window).last_hidden_state[:, 1:]
    assert torch.allclose(blind(transposed, indices=window).last_hidden_state[:, 1:][:, order], plain, atol=1e-5)
    absolute = SarJepaModel(SarJepaConfig(**{**config.to_dict(), "position_encoding": "absolute"})).eval()
    c = absolute(pixels, indices=window).last_hidden_state
    d = absolute(shifted, indices=window + 8 + 2).last_hidden_state
    assert not torch.allclose(c, d, atol=1e-3)


def test_masked_tokens_hide_their_pixels(config):
    model = SarJepaModel(config).eval()
    pixels = torch.rand(1, 1, 32, 32)
    window = torch.arange(16)[None]  # the first two patch rows
    masked = torch.zeros(1, 16, dtype=torch.bool)
    masked[0, :8] = True  # the first patch row
    changed = pixels.clone()
    changed[..., :4, :] = torch.rand(1, 1, 4, 32)
    a = model(pixels, indices=window, masked_positions=masked).last_hidden_state
    b = model(changed, indices=window, masked_positions=masked).last_hidden_state
    c = model(changed, indices=window).last_hidden_state
    assert torch.allclose(a, b, atol=1e-6) and not torch.allclose(a, c, atol=1e-3)


def test_pretraining_forward_loss_and_gradients(config):
    model = SarJepaForPreTraining(config)
    assert model.momentum_pairs() == [] and model.export_encoder() is model.encoder
    pixels = torch.rand(3, 1, 32, 32)
    batch = SarJepaMaskCollator(config, 0)([{"pixel_values": p, "labels": torch.tensor(0)} for p in pixels])
    out = model(**batch)
    assert out.predictions.shape == out.targets.shape == (3, 4, 12, config.target_dim)
    expected = multiscale_gradient_targets(pixels, config.gradient_scales, config.patch_size)
    b, w, k = 2, 3, 5
    assert torch.allclose(out.targets[b, w, k], expected[b, batch["target_indices"][b, w, k]])
    assert out.loss.item() == pytest.approx((out.predictions - out.targets).pow(2).mean().item(), rel=1e-6)
    assert out.target_embeddings.shape == (3 * 4, config.hidden_size)
    out.loss.backward()
    assert model.encoder.mask_token.grad.abs().sum() > 0
    assert model.encoder.blocks[0].attn.relative_keys.grad is not None


def test_save_load_identical_through_auto_classes(tmp_path, config):
    torch.manual_seed(1)
    model = SarJepaForPreTraining(config).eval()
    randomize_relative_tables(model)
    pixels = torch.rand(2, 1, 32, 32)
    model.export_encoder().save_pretrained(tmp_path / "encoder")
    model.save_pretrained(tmp_path / "full")
    assert json.loads((tmp_path / "encoder" / "config.json").read_text())["model_type"] == "jepa_sar"
    assert (tmp_path / "encoder" / "model.safetensors").is_file()
    encoder = AutoModel.from_pretrained(tmp_path / "encoder").eval()
    assert type(encoder) is SarJepaModel
    assert torch.equal(encoder(pixels).last_hidden_state, model.encoder(pixels).last_hidden_state)
    reloaded = AutoModelForPreTraining.from_pretrained(tmp_path / "full").eval()
    batch = SarJepaMaskCollator(config, 3)([{"pixel_values": p} for p in pixels])
    assert torch.equal(reloaded(**batch).loss, model(**batch).loss)


def test_clear_errors(config):
    model = SarJepaForPreTraining(config)
    with pytest.raises(ValueError, match="expected pixel_values shaped \\(batch, 1, 32, 32\\)"):
        model.encoder(torch.rand(1, 1, 64, 64))
    batch = SarJepaMaskCollator(config, 0)([{"pixel_values": torch.rand(1, 32, 32)}])
    batch["target_indices"] = batch["target_indices"] + 1000
    with pytest.raises(ValueError, match="inside its window"):
        model(**batch)
    with pytest.raises(ValueError, match="SarJepaMaskCollator"):
        model(batch["pixel_values"], batch["window_indices"][:, 0], batch["target_indices"][:, 0])
    with pytest.raises(ValueError, match="position_encoding"):
        SarJepaConfig(position_encoding="rope")


def test_classifier_loads_a_pretrained_encoder_and_fine_tunes(tmp_path, config):
    torch.manual_seed(2)
    encoder = SarJepaModel(config).eval()
    randomize_relative_tables(encoder)
    encoder.save_pretrained(tmp_path)
    classifier = AutoModelForImageClassification.from_pretrained(tmp_path, num_labels=3).eval()
    assert type(classifier) is SarJepaForImageClassification and classifier.classifier.out_features == 3
    pixels = torch.rand(6, 1, 32, 32)
    hidden = classifier.sar_jepa(pixels).last_hidden_state
    assert torch.equal(hidden, encoder(pixels).last_hidden_state)  # the encoder weights were loaded
    output = classifier(pixels, labels=torch.tensor([0, 1, 2, 0, 1, 2]))
    assert output.logits.shape == (6, 3) and output.loss > 0
    # two classes that differ in brightness: a few fine-tuning epochs must fit them
    labels = torch.arange(8) % 2
    bright = 0.2 + 0.6 * labels[:, None, None, None] + 0.1 * torch.rand(8, 1, 32, 32)
    tuned, losses = finetune_classifier(encoder, bright, labels)
    assert len(losses) == config.finetune_epochs and losses[-1] < 0.5 * losses[0]
    assert accuracy(tuned, bright, labels) == 1.0
    assert torch.equal(encoder(pixels).last_hidden_state, hidden)  # the given encoder is left untouched
    with pytest.raises(ValueError, match="as many labels as chips"):
        finetune_classifier(encoder, bright, labels[:3])
