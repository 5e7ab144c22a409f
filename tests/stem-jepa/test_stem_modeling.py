"""Encoder grid, predictors, loss, the pretraining wiring and save → load."""

import pytest
import torch
from jepa_core.layers import sincos_2d
from stem_jepa import StemJepaConfig, StemJepaForPreTraining, StemJepaModel
from stem_jepa.modeling_stem_jepa import MlpStemPredictor, TransformerStemPredictor, stem_loss
from torch import nn
from transformers import AutoModel, AutoModelForPreTraining

TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, pred_mlp_hidden_size=48)


def spectrograms(config, batch=2, frames=None):
    return torch.randn(batch, 1, config.n_mels, frames or config.num_frames)


def test_encoder_keeps_the_patch_grid_with_fixed_sincos_positions():
    config = StemJepaConfig.from_preset("tiny", **TINY)
    model = StemJepaModel(config).eval()
    hidden = model(spectrograms(config)).last_hidden_state
    assert hidden.shape == (2, 5 * 16, 32) and model.to_grid(hidden).shape == (2, 5, 16, 32)
    torch.testing.assert_close(model.encoder.pos_embed.reshape(-1, 32), sincos_2d(5, 16, 32))
    assert not model.encoder.pos_embed.requires_grad
    short = model(spectrograms(config, frames=48)).last_hidden_state  # a track's last, shorter chunk
    assert short.shape == (2, 5 * 3, 32)
    with pytest.raises(ValueError, match="log-mel input"):
        model(torch.randn(2, 64, 256))
    with pytest.raises(ValueError, match="grid"):
        model(spectrograms(config, frames=config.num_frames + 16))


def test_reference_size_grid_is_5_by_50():
    config = StemJepaConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, pred_mlp_hidden_size=32)
    assert StemJepaModel(config)(spectrograms(config, 1)).last_hidden_state.shape == (1, 250, 32)


def test_mlp_predictor_is_the_reference_shape_and_is_conditioned():
    config = StemJepaConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    predictor = MlpStemPredictor(config)
    linears = [m for m in predictor.mlp if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 1024)] + [(1024, 1024)] * 4 + [(1024, 32)]
    assert sum(isinstance(m, nn.ReLU) for m in predictor.mlp) == 5 and isinstance(predictor.norm, nn.LayerNorm)
    context = torch.randn(2, 250, 32)
    same = predictor(context, torch.tensor([0, 0]))
    assert same.shape == (2, 250, 32)
    assert not torch.allclose(same, predictor(context, torch.tensor([1, 3])))
    # per patch: changing one context patch changes only that output patch
    moved = context.clone()
    moved[:, 7] += 1.0
    diff = (predictor(moved, torch.tensor([0, 0])) - same).abs().sum(-1)
    assert diff[:, 7].min() > 0 and diff[:, :7].max() == 0 and diff[:, 8:].max() == 0
    unconditioned = MlpStemPredictor(StemJepaConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                    pred_conditioning="none"))  # fmt: skip
    assert unconditioned.instrument_embed is None and unconditioned.mlp[0].in_features == 32


def test_transformer_predictor_option():
    config = StemJepaConfig.from_preset("tiny", predictor_type="transformer", **TINY)
    model = StemJepaModel(config)
    assert isinstance(model.predictor, TransformerStemPredictor)
    assert len(model.predictor.trunk.blocks) == config.pred_num_hidden_layers
    out = model.predict(spectrograms(config), torch.tensor([1, 2]))
    assert out.shape == (2, 80, 32)
    assert not torch.allclose(
        out[0], model.predict(spectrograms(config)[:1] * 0 + spectrograms(config)[:1], torch.tensor([3]))[0]
    )


@pytest.mark.parametrize("instrument", [torch.tensor([0, 4]), torch.tensor([-1, 0]), torch.tensor([0.5, 1.0])])
def test_unknown_instrument_class_is_refused(instrument):
    config = StemJepaConfig.from_preset("tiny", **TINY)
    with pytest.raises(ValueError, match="instrument"):
        StemJepaModel(config).predict(spectrograms(config), instrument)


def test_loss_is_two_minus_two_cosine_on_standardised_targets():
    config = StemJepaConfig.from_preset("tiny")
    targets = torch.randn(2, 5, 8) * 3 + 1
    standardised = (targets - targets.mean(-1, keepdim=True)) / targets.std(-1, unbiased=False, keepdim=True)
    assert stem_loss(standardised * 5, targets, config).item() == pytest.approx(0.0, abs=1e-5)
    assert stem_loss(-standardised, targets, config).item() == pytest.approx(4.0, abs=1e-5)
    orthogonal = torch.zeros(2, 5, 8)
    orthogonal[..., 0], orthogonal[..., 1] = 1.0, -1.0
    expected = (2 - 2 * torch.nn.functional.cosine_similarity(orthogonal, standardised, dim=-1)).mean()
    assert stem_loss(orthogonal, targets, config).item() == pytest.approx(expected.item(), abs=1e-5)


def test_pretraining_forward_targets_come_from_the_ema_encoder_without_gradient():
    config = StemJepaConfig.from_preset("tiny", **TINY)
    model = StemJepaForPreTraining(config)
    context, target = spectrograms(config), spectrograms(config)
    out = model(context_values=context, target_values=target, instrument=torch.tensor([0, 3]), stems=None)
    torch.testing.assert_close(out.targets, model.target.encoder(target))
    torch.testing.assert_close(out.predictions, model.predict(context, torch.tensor([0, 3])))
    out.loss.backward()
    assert all(p.grad is None for p in model.target.encoder.parameters())
    assert model.predictor.norm.weight.grad.abs().sum() > 0
    assert model.context_encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    assert out.target_embeddings.shape == (2, 32)
    [(online, target)] = model.momentum_pairs()
    assert online is model.context_encoder and target is model.target.encoder


def test_export_is_the_ema_encoder_with_the_online_predictor():
    config = StemJepaConfig.from_preset("tiny", **TINY)
    model = StemJepaForPreTraining(config)
    with torch.no_grad():
        for p in model.context_encoder.parameters():
            p.add_(1.0)  # online and EMA encoders now differ
    exported = model.export_encoder()
    x = spectrograms(config)
    torch.testing.assert_close(exported(x).last_hidden_state, model.target.encoder(x))
    torch.testing.assert_close(exported.predictor(model.target.encoder(x), torch.tensor([1, 1])),
                               model.predictor(model.target.encoder(x), torch.tensor([1, 1])))  # fmt: skip


@pytest.mark.parametrize("predictor_type", ["mlp", "transformer"])
def test_save_and_reload_through_auto_classes(tmp_path, predictor_type):
    config = StemJepaConfig.from_preset("tiny", predictor_type=predictor_type, **TINY)
    model = StemJepaForPreTraining(config).eval()
    exported = model.export_encoder()
    exported.save_pretrained(tmp_path / "encoder")
    model.save_pretrained(tmp_path / "full")
    x, instrument = spectrograms(config), torch.tensor([2, 0])
    reloaded = AutoModel.from_pretrained(tmp_path / "encoder").eval()
    assert type(reloaded) is StemJepaModel and reloaded.config.instrument_names == config.instrument_names
    torch.testing.assert_close(reloaded(x).last_hidden_state, exported(x).last_hidden_state)
    torch.testing.assert_close(reloaded.predict(x, instrument), exported.predict(x, instrument))
    full = AutoModelForPreTraining.from_pretrained(tmp_path / "full").eval()
    torch.testing.assert_close(
        full(context_values=x, target_values=x, instrument=instrument).loss,
        model(context_values=x, target_values=x, instrument=instrument).loss,
    )
    assert (tmp_path / "encoder" / "model.safetensors").is_file()


def test_pretraining_model_is_built_by_the_core_hooks_and_loads_old_state_dicts():
    config = StemJepaConfig.from_preset("tiny", **TINY)
    model = StemJepaForPreTraining(config).eval()
    names = {name.split(".")[0] for name in model.state_dict()}
    assert names == {"context_encoder", "target", "predictor"}
    legacy = {
        key.replace("context_encoder.", "online.encoder.", 1).replace("predictor.", "online.predictor.", 1)
        if not key.startswith("target.") else key: value
        for key, value in model.state_dict().items()
    }  # fmt: skip
    assert any(key.startswith("online.encoder.") for key in legacy)
    torch.manual_seed(1)
    other = StemJepaForPreTraining(config).eval()
    other.load_state_dict(legacy)
    x, instrument = spectrograms(config), torch.tensor([1, 2])
    torch.testing.assert_close(other.predict(x, instrument), model.predict(x, instrument))
