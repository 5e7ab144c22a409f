"""T-JEPA encoder and pretraining model: tokenizer formula, [REG] tokens, positions, loss, save → load."""

import math

import pytest
import torch
from jepa_core.masks import apply_masks
from tjepa import TabularJepaConfig, TabularJepaForPreTraining, TabularJepaMaskCollator, TabularJepaModel
from tjepa.modeling_tjepa import sincos_positions
from transformers import AutoModel, AutoModelForPreTraining


def config(**overrides) -> TabularJepaConfig:
    base = dict(num_numerical_features=3, categorical_cardinalities=[3, 4], hidden_size=8, num_hidden_layers=1,
                num_attention_heads=2, pred_hidden_size=4, pred_num_hidden_layers=1,
                pred_num_attention_heads=1)  # fmt: skip
    return TabularJepaConfig(**{**base, **overrides})


def rows(batch: int = 5, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "numerical_features": torch.randn(batch, 3, generator=g),
        "categorical_features": torch.stack(
            [torch.randint(0, 3, (batch,), generator=g), torch.randint(0, 4, (batch,), generator=g)], 1
        ),
    }


def test_paper_defaults():
    c = TabularJepaConfig()
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.mlp_ratio) == (64, 16, 2, 1.0)
    assert (c.pred_hidden_size, c.pred_num_hidden_layers, c.pred_num_attention_heads) == (16, 16, 4)
    assert (c.loss_type, c.normalize_targets, c.ema_momentum_start, c.ema_momentum_end) == ("l2", False, 0.996, 1.0)
    assert (c.learning_rate, c.start_learning_rate, c.weight_decay, c.train_batch_size) == (3.66e-4, 0.0, 0.0, 512)
    assert (tuple(c.context_share), tuple(c.target_share), c.num_target_subsets) == ((0.136, 0.368), (0.156, 0.622), 4)
    assert c.num_register_tokens == 1 and c.position_embedding_base == 100.0 and c.model_type == "jepa_tjepa"


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="at least 2 features"):
        TabularJepaConfig(num_numerical_features=1)
    with pytest.raises(ValueError, match="cardinality"):
        TabularJepaConfig(categorical_cardinalities=[1])
    with pytest.raises(ValueError, match="probe_pool"):
        TabularJepaConfig(probe_pool="max")


def test_tokenizer_is_the_ft_transformer_formula():
    model = TabularJepaModel(config())
    tok, x = model.tokenizer, rows()
    tokens = tok(x["numerical_features"], x["categorical_features"])
    assert tokens.shape == (5, 5, 8)
    expected_num = x["numerical_features"][0, 1] * tok.numerical_weight[1] + tok.numerical_bias[1]
    torch.testing.assert_close(tokens[0, 1], expected_num)
    code = x["categorical_features"][2, 1]
    expected_cat = tok.category_embeddings[3 + code] + tok.categorical_bias[1]
    torch.testing.assert_close(tokens[2, 4], expected_cat)
    bound = 1 / math.sqrt(8)  # Kaiming-uniform with a=√5 on (n, h)
    assert tok.numerical_weight.abs().max() <= bound and tok.numerical_weight.abs().max() > 0.5 * bound


def test_positions_are_sincos_base_100_after_the_register_tokens():
    model = TabularJepaModel(config(num_register_tokens=2))
    pos = model.pos_embed
    assert pos.shape == (5, 8)
    # token index 2 (first feature after 2 [REG]), channel 1: sin(2 / 100^(1/4))
    assert pos[0, 1].item() == pytest.approx(math.sin(2 / 100**0.25), abs=1e-6)
    assert pos[0, 4].item() == pytest.approx(math.cos(2.0), abs=1e-6)
    torch.testing.assert_close(
        sincos_positions(torch.arange(3), 4, 10000.0)[:, :2],
        torch.tensor([[0.0, 0.0], [math.sin(1), math.sin(0.01)], [math.sin(2), math.sin(0.02)]]),
    )


@pytest.mark.parametrize("num_register_tokens", [0, 1, 3])
def test_register_tokens_come_first_and_are_never_masked(num_register_tokens):
    model = TabularJepaModel(config(num_register_tokens=num_register_tokens)).eval()
    x = rows()
    full = model(**x).last_hidden_state
    assert full.shape == (5, num_register_tokens + 5, 8)
    indices = torch.tensor([[0, 3]] * 5)
    part = model(**x, indices=indices).last_hidden_state
    assert part.shape == (5, num_register_tokens + 2, 8)
    # the context encoder on features {0, 3} equals the encoder on a table holding only those tokens + the [REG]s
    tokens = model.tokenizer(x["numerical_features"], x["categorical_features"]) + model.pos_embed
    manual = model.head(model.encoder(apply_masks(tokens, indices)))
    torch.testing.assert_close(part, manual)
    if num_register_tokens:
        assert model.encoder.prefix_tokens.shape == (1, num_register_tokens, 8)


def test_bad_inputs_raise_clear_errors():
    model = TabularJepaModel(config())
    x = rows()
    with pytest.raises(ValueError, match=r"numerical_features must be \(batch, 3\)"):
        model(numerical_features=x["numerical_features"][:, :2], categorical_features=x["categorical_features"])
    with pytest.raises(ValueError, match="out of range"):
        model(numerical_features=x["numerical_features"], categorical_features=x["categorical_features"] + 5)
    with pytest.raises(ValueError, match="expects 2 categorical_features"):
        model(numerical_features=x["numerical_features"])


def test_pretraining_loss_is_mse_on_target_encoder_features():
    torch.manual_seed(0)
    c = config(num_register_tokens=2)
    model = TabularJepaForPreTraining(c).eval()
    batch = TabularJepaMaskCollator(c.num_features, seed=0)([{k: v[i] for k, v in rows().items()} for i in range(5)])
    out = model(**batch)
    target_full = model.target.encoder(
        **{k: batch[k] for k in ("numerical_features", "categorical_features")}
    ).last_hidden_state
    expected = apply_masks(target_full[:, 2:], batch["target_indices"])
    torch.testing.assert_close(out.targets, expected)
    assert out.predictions.shape == expected.shape == (5, 4, batch["target_indices"].shape[2], 8)
    assert out.loss.item() == pytest.approx((out.predictions - expected).pow(2).mean().item(), rel=1e-5)
    assert model.momentum_pairs()[0][1] is model.export_encoder()


def test_save_load_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = TabularJepaForPreTraining(config()).eval()
    model.save_pretrained(tmp_path / "pre")
    model.export_encoder().save_pretrained(tmp_path / "enc")
    encoder = AutoModel.from_pretrained(tmp_path / "enc").eval()
    assert isinstance(encoder, TabularJepaModel)
    x = rows()
    torch.testing.assert_close(
        encoder(**x).last_hidden_state, model.export_encoder()(**x).last_hidden_state, rtol=0, atol=0
    )
    torch.testing.assert_close(encoder.pos_embed, model.export_encoder().pos_embed)
    reloaded = AutoModelForPreTraining.from_pretrained(tmp_path / "pre").eval()
    batch = TabularJepaMaskCollator(5, seed=0)([{k: v[i] for k, v in x.items()} for i in range(5)])
    assert reloaded(**batch).loss.item() == model(**batch).loss.item()


def test_embed_pools():
    model = TabularJepaModel(config(num_register_tokens=2))
    x = rows(7)
    hidden = model.eval()(**x).last_hidden_state
    torch.testing.assert_close(model.embed(**x, pool="flatten"), hidden.flatten(1))
    torch.testing.assert_close(model.embed(**x, pool="mean", batch_size=3), hidden[:, 2:].mean(1))
    torch.testing.assert_close(model.embed(**x, pool="register"), hidden[:, :2].mean(1))
    with pytest.raises(ValueError, match="num_register_tokens"):
        TabularJepaModel(config(num_register_tokens=0)).embed(**x, pool="register")
