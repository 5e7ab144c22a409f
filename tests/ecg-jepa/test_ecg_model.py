"""ECG-JEPA encoder and pretraining model: sizes, shapes, positions, biases, init, save → load."""

import math

import pytest
import torch
from ecg_jepa import EcgJepaConfig, EcgJepaForPreTraining, EcgJepaModel
from ecg_jepa.modeling_ecg_jepa import interleaved_sincos
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoConfig, AutoModel, AutoModelForPreTraining


@pytest.fixture
def tiny():
    """The tiny preset with the paper's EMA teacher (the preset itself trains with SIGReg)."""
    return EcgJepaConfig.from_preset("tiny", objective="ema")


@pytest.mark.parametrize(("preset", "params"), [("XS", 3_600_000), ("S", 14_277_888), ("B", 85_185_024)])
def test_paper_sizes_have_the_reference_parameter_counts(preset, params):
    config = EcgJepaConfig.from_preset(preset)
    with torch.device("meta"):
        model = EcgJepaModel(config)
    assert sum(p.numel() for p in model.parameters()) == params
    assert model.pos_embed.shape == (200, config.hidden_size)


def test_paper_defaults():
    config = EcgJepaConfig()
    assert (config.num_leads, config.signal_length, config.sampling_rate, config.patch_size) == (12, 5000, 500, 25)
    assert config.num_patches == 200 and config.num_register_tokens == 1
    assert (config.keep_ratio_min, config.keep_ratio_max, config.min_block_size) == (0.15, 0.25, 10)
    assert (config.loss_type, config.normalize_targets) == ("l1", False)
    assert (config.ema_momentum_start, config.ema_momentum_end) == (0.998, 0.9995)
    assert config.lead_names == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def test_no_biases_anywhere(tiny):
    model = EcgJepaForPreTraining(tiny)
    assert not [name for name, _ in model.named_parameters() if name.endswith("bias")]
    assert model.context_encoder.patch_embed.proj.kernel_size == (25,)


def test_interleaved_sincos_values():
    table = interleaved_sincos(200, 8)
    omega = 1.0 / 10000 ** (torch.arange(4) / 4.0)
    expected = torch.stack([torch.sin(3 * omega), torch.cos(3 * omega)], dim=-1).flatten()
    torch.testing.assert_close(table[3], expected)
    torch.testing.assert_close(table[0], torch.tensor([0.0, 1.0] * 4))


def test_shapes_register_first_and_position_slicing(tiny):
    torch.manual_seed(0)
    model = EcgJepaModel(tiny).eval()
    x = torch.randn(2, 12, 1250)
    full = model(x).last_hidden_state
    assert full.shape == (2, 1 + 50, 64)
    short = model(x[..., :625]).last_hidden_state
    assert short.shape == (2, 1 + 25, 64)
    # a 1.25-s input uses positions 0–24 of the table: same tokens as embedding by hand
    tokens = model.patch_embed(x[..., :625]) + model.pos_embed[:25]
    torch.testing.assert_close(short, model.encoder(tokens))
    kept = model(x, indices=torch.tensor([[0, 5, 7], [1, 2, 49]])).last_hidden_state
    assert kept.shape == (2, 4, 64)
    # the register token is learned and comes first; kept tokens see only each other, so values differ from full
    assert not torch.allclose(kept[:, 1], full[:, 1])


def test_residual_projections_are_scaled_at_init():
    config = EcgJepaConfig.from_preset("XS")
    model = EcgJepaModel(config)
    proj = torch.cat([b.attn.proj.weight.flatten() for b in model.encoder.blocks])
    qkv = torch.cat([b.attn.qkv.weight.flatten() for b in model.encoder.blocks])
    expected = 0.02 / math.sqrt(2 * 8)
    assert abs(proj.std().item() - expected) < 0.05 * expected
    assert abs(qkv.std().item() - 0.02) < 0.003


def test_bad_inputs_get_clear_errors(tiny):
    model = EcgJepaModel(tiny)
    with pytest.raises(ValueError, match="12 channels"):
        model(torch.randn(1, 8, 1250))
    with pytest.raises(ValueError, match="multiple of the patch size 25"):
        model(torch.randn(1, 12, 1240))
    with pytest.raises(ValueError, match="at most 1250"):
        model(torch.randn(1, 12, 2500))
    with pytest.raises(StrictDataclassClassValidationError, match="positive multiple of patch_size"):
        EcgJepaModel(EcgJepaConfig.from_preset("tiny", signal_length=1240))


def test_pretraining_forward_is_l1_against_the_target_encoder(tiny):
    torch.manual_seed(0)
    model = EcgJepaForPreTraining(tiny)
    x = torch.randn(2, 12, 1250)
    context = torch.arange(10).repeat(2, 1)
    target = torch.arange(10, 50).repeat(2, 1)
    out = model(context_indices=context, target_indices=target, input_values=x)
    assert out.predictions.shape == out.targets.shape == (2, 40, 64)
    full = model.target.encoder(x).last_hidden_state[:, 1:]
    torch.testing.assert_close(out.targets, full[:, 10:])
    torch.testing.assert_close(out.loss, (out.predictions - out.targets).abs().mean())


def test_save_and_load_through_auto_classes(tiny, tmp_path):
    torch.manual_seed(0)
    model = EcgJepaForPreTraining(tiny).eval()
    model.save_pretrained(tmp_path / "pretraining")
    model.export_encoder().save_pretrained(tmp_path / "encoder")
    assert AutoConfig.from_pretrained(tmp_path / "encoder").model_type == "jepa_ecg"
    encoder = AutoModel.from_pretrained(tmp_path / "encoder").eval()
    assert isinstance(encoder, EcgJepaModel)
    x = torch.randn(3, 12, 1250)
    torch.testing.assert_close(encoder(x).last_hidden_state, model.export_encoder()(x).last_hidden_state)
    reloaded = AutoModelForPreTraining.from_pretrained(tmp_path / "pretraining").eval()
    assert isinstance(reloaded, EcgJepaForPreTraining)
    indices = torch.arange(10).repeat(3, 1), torch.arange(10, 50).repeat(3, 1)
    torch.testing.assert_close(reloaded(*indices, input_values=x).loss, model(*indices, input_values=x).loss)
    assert encoder.config.lead_names == tiny.lead_names
