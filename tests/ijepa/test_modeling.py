"""Encoder and pretraining model: presets, positions, init, shapes and values, save → AutoModel load, loss options."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from ijepa import ImageJepaConfig, ImageJepaForPreTraining, ImageJepaMaskCollator, ImageJepaModel
from jepa_core.layers import sincos_2d
from transformers import AutoConfig, AutoModel, AutoModelForPreTraining


def _batch(config: ImageJepaConfig, size: int = 3, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randn(size, 3, config.image_size, config.image_size, generator=generator)
    return ImageJepaMaskCollator(config, seed)([{"pixel_values": p} for p in pixels])


def test_presets_have_the_paper_sizes():
    sizes = {
        name: (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.patch_size, c.image_size)
        for name in ImageJepaConfig.presets
        if (c := ImageJepaConfig.from_preset(name))
    }
    assert sizes["vit_tiny_16"] == (192, 12, 3, 16, 224)
    assert sizes["vit_base_16"] == (768, 12, 12, 16, 224)
    assert sizes["vit_huge_14"] == (1280, 32, 16, 14, 224)
    assert sizes["vit_huge_16_448"] == (1280, 32, 16, 16, 448)
    giant = ImageJepaConfig.from_preset("vit_giant_16")
    assert (giant.hidden_size, giant.num_hidden_layers, int(giant.hidden_size * giant.mlp_ratio)) == (1408, 40, 6144)
    assert giant.pred_num_hidden_layers == 16
    for name in ImageJepaConfig.presets:
        config = ImageJepaConfig.from_preset(name)
        assert config.pred_num_attention_heads == config.num_attention_heads
        if name != "tiny":
            assert (config.pred_hidden_size, config.layer_norm_eps) == (384, 1e-6)
    with pytest.raises(ValueError, match="unknown preset"):
        ImageJepaConfig.from_preset("vit_enormous")


def test_vit_tiny_parameter_count():
    """timm's vit_tiny_patch16_224 has 5,717,416 parameters; minus the 1000-class head (193,000), the CLS token
    (192) and the learned position table (197 × 192 = 37,824), which is a fixed buffer here: 5,486,400."""
    model = ImageJepaModel(ImageJepaConfig.from_preset("vit_tiny_16"))
    assert sum(p.numel() for p in model.parameters()) == 5_486_400


def test_positions_are_fixed_sincos_and_init_is_rescaled():
    config = ImageJepaConfig.from_preset("tiny", objective="ema")
    torch.manual_seed(0)
    model = ImageJepaForPreTraining(config)
    encoder = model.context_encoder
    assert torch.equal(encoder.pos_embed[0], sincos_2d(8, 8, 96))
    assert not any(name.endswith("pos_embed") for name, _ in model.named_parameters())
    # MAE convention: first half encodes the column, second half the row; token 9 is row 1, column 1.
    assert torch.allclose(encoder.pos_embed[0, 9, :48], encoder.pos_embed[0, 1, :48])
    assert torch.allclose(encoder.pos_embed[0, 9, 48:], encoder.pos_embed[0, 8, 48:])
    assert torch.equal(model.predictor_pos_embed, sincos_2d(8, 8, 64))
    # fix_init_weight: block i's output projections are divided by sqrt(2 i): std ≈ 0.02 / sqrt(2 i)
    for i, block in enumerate(encoder.encoder.blocks, start=1):
        assert block.mlp.fc2.weight.std().item() == pytest.approx(0.0176 / math.sqrt(2 * i), rel=0.15)
    last = model.predictor.blocks[-1].attn.proj.weight.std().item()
    assert last == pytest.approx(0.0176 / math.sqrt(2 * len(model.predictor.blocks)), rel=0.15)
    # the target encoder starts as an exact copy of the context encoder
    for online, target in zip(encoder.parameters(), model.target.encoder.parameters(), strict=True):
        assert torch.equal(online, target)


def test_encoder_keeps_only_given_indices():
    config = ImageJepaConfig.from_preset("tiny")
    model = ImageJepaModel(config).eval()
    pixels = torch.randn(2, 3, 32, 32)
    full = model(pixels).last_hidden_state
    assert full.shape == (2, 64, 96)
    indices = torch.tensor([[0, 5, 63], [1, 2, 3]])
    kept = model(pixels, indices).last_hidden_state
    assert kept.shape == (2, 3, 96)
    # attention over only the kept tokens changes them, but the final LayerNorm normalises every token
    assert torch.allclose(kept.mean(-1), torch.zeros(2, 3), atol=1e-5)
    assert not torch.allclose(kept[0], full[0, [0, 5, 63]], atol=1e-3)


def test_pretraining_output_shapes_and_losses():
    config = ImageJepaConfig.from_preset("tiny", objective="ema")  # I-JEPA's loss alone, an EMA target
    torch.manual_seed(0)
    model = ImageJepaForPreTraining(config)
    batch = _batch(config)
    out = model(**batch)
    batch_size, num_targets, target_len = batch["target_indices"].shape
    assert out.predictions.shape == out.targets.shape == (batch_size, num_targets, target_len, 96)
    expected = F.smooth_l1_loss(out.predictions, F.layer_norm(out.targets, (96,)))
    assert torch.allclose(out.loss, expected)
    out.loss.backward()
    assert model.context_encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.target.encoder.parameters())
    l2_model = ImageJepaForPreTraining(ImageJepaConfig.from_preset("tiny", loss_type="l2", objective="ema"))
    l2_model.load_state_dict(model.state_dict())
    l2 = l2_model(**batch)
    assert torch.allclose(l2.loss, F.mse_loss(l2.predictions, F.layer_norm(l2.targets, (96,))))


def test_save_and_load_with_auto_classes(tmp_path):
    config = ImageJepaConfig.from_preset("tiny")
    torch.manual_seed(0)
    model = ImageJepaForPreTraining(config).eval()
    pixels = torch.randn(2, 3, 32, 32)
    model.save_pretrained(tmp_path / "pretraining")
    model.export_encoder().save_pretrained(tmp_path / "encoder")
    assert json.loads((tmp_path / "encoder" / "config.json").read_text())["model_type"] == "jepa_ijepa"
    assert isinstance(AutoConfig.from_pretrained(tmp_path / "encoder"), ImageJepaConfig)
    encoder = AutoModel.from_pretrained(tmp_path / "encoder").eval()
    assert isinstance(encoder, ImageJepaModel)
    expected = model.export_encoder()(pixels).last_hidden_state
    assert torch.equal(encoder(pixels).last_hidden_state, expected)
    reloaded = AutoModelForPreTraining.from_pretrained(tmp_path / "pretraining").eval()
    batch = _batch(config)
    assert torch.equal(reloaded(**batch).loss, model(**batch).loss)


def test_bad_inputs_are_clear_errors(tmp_path):
    config = ImageJepaConfig.from_preset("tiny")
    model = ImageJepaModel(config)
    with pytest.raises(ValueError, match="built for 32×32"):
        model(torch.randn(1, 3, 48, 48))
    with pytest.raises(ValueError, match="3 channels"):
        model(torch.randn(1, 1, 32, 32))
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "jepa_tjepa"}))
    with pytest.raises(ValueError, match="'jepa_tjepa' checkpoint, not 'jepa_ijepa'"):
        ImageJepaModel.from_pretrained(other)
    with pytest.raises(ValueError, match="'jepa_tjepa' checkpoint"):
        ImageJepaForPreTraining.from_pretrained(other)
