import pytest
import torch
from transformers import AutoModel
from tsjepa import (
    FutureWindowCollator,
    SemanticActor,
    TimeSeriesJepaConfig,
    TimeSeriesJepaForPreTraining,
    TimeSeriesJepaModel,
)
from tsjepa.data import default_dataset


@pytest.fixture(scope="module")
def config():
    return TimeSeriesJepaConfig.from_preset("tiny", num_train_trajectories=32, num_test_trajectories=8)


def test_pretraining_forward_shapes_and_cosine_loss(config):
    torch.manual_seed(0)
    model = TimeSeriesJepaForPreTraining(config)
    batch = FutureWindowCollator.from_config(config)([default_dataset("train", config)[i] for i in range(6)])
    output = model(**batch)
    assert output.predictions.shape == output.targets.shape == (6, 15, 32)
    cosine = torch.nn.functional.cosine_similarity(output.predictions, output.targets, dim=-1)
    assert torch.allclose(output.loss, (1 - cosine).mean(), atol=1e-6)
    output.loss.backward()
    assert model.context_encoder.encoder.stem[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.target.encoder.parameters())
    with torch.no_grad():  # the target of future window j is the EMA encoder on that window
        window = batch["series"][0, :, batch["target_indices"][0, 3]]
        model.target.encoder.train()
        assert output.targets.shape[-1] == model.target.encoder(window[None]).shape[-1]


def test_save_and_load_give_identical_outputs(config, tmp_path):
    torch.manual_seed(0)
    model = TimeSeriesJepaForPreTraining(config)
    encoder = model.export_encoder().eval()
    encoder.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is TimeSeriesJepaModel
    series = torch.randn(3, 4, 40)
    with torch.no_grad():
        expected, got = encoder(series), loaded(series)
        assert got.last_hidden_state.shape == (3, 1, 32)
        torch.testing.assert_close(got.pooler_output, expected.pooler_output, rtol=0, atol=0)
        commands = torch.randn(3, 15, 1)
        torch.testing.assert_close(
            loaded.rollout(got.pooler_output, commands), encoder.rollout(expected.pooler_output, commands)
        )
        # the last window of a long series equals the window itself
        torch.testing.assert_close(encoder(series[:, :, -16:]).pooler_output, expected.pooler_output)


def test_actor_saves_and_standardises(config, tmp_path):
    actor = SemanticActor(config).eval()
    actor.input_mean.fill_(2.0)
    actor.save_pretrained(tmp_path)
    loaded = SemanticActor.from_pretrained(tmp_path).eval()
    x = torch.randn(5, 32)
    assert loaded(x).shape == (5, 1)
    torch.testing.assert_close(loaded(x), actor(x))
    torch.testing.assert_close(loaded.input_mean, torch.full((32,), 2.0))


@pytest.mark.parametrize(
    ("series", "message"),
    [
        (torch.randn(2, 3, 16), "4 channels"),
        (torch.randn(4, 16), "4 channels"),
        (torch.randn(2, 4, 10), "10 time steps"),
        (torch.full((2, 4, 16), float("nan")), "NaN"),
    ],
)
def test_bad_windows_get_clear_errors(config, series, message):
    with pytest.raises(ValueError, match=message):
        TimeSeriesJepaModel(config)(series)


def test_bad_config_and_commands(config):
    with pytest.raises(ValueError, match="shorter than window_size"):
        TimeSeriesJepaConfig(trajectory_length=20)
    with pytest.raises(ValueError, match="deploy_encoder"):
        TimeSeriesJepaConfig(deploy_encoder="ema")
    with pytest.raises(ValueError, match="commands must be"):
        TimeSeriesJepaModel(config).rollout(torch.randn(2, 32), torch.randn(2, 15))


def test_pretraining_model_is_built_by_the_core_hooks_and_round_trips(config, tmp_path):
    from jepa_core.targets import EmaTarget
    from transformers import AutoModelForPreTraining
    from tsjepa.modeling_tsjepa import LatentPredictor

    torch.manual_seed(0)
    model = TimeSeriesJepaForPreTraining(config).eval()
    assert isinstance(model.predictor, LatentPredictor) and model.context_encoder.predictor is None
    assert isinstance(model.target, EmaTarget) and not hasattr(model, "predictor_pos_embed")
    names = set(model.state_dict())
    assert any(n.startswith("predictor.mlp.") for n in names)
    assert not any("context_encoder.predictor" in n for n in names)
    online_encoder, target_encoder = model.context_encoder.encoder, model.target.encoder
    for online, target in zip(online_encoder.parameters(), target_encoder.parameters(), strict=True):
        torch.testing.assert_close(online, target, rtol=0, atol=0)  # the target starts as a copy
    model.save_pretrained(tmp_path)
    loaded = AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    assert type(loaded) is TimeSeriesJepaForPreTraining
    batch = FutureWindowCollator.from_config(config)([default_dataset("train", config)[i] for i in range(4)])
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).predictions, model(**batch).predictions, rtol=0, atol=0)
    exported = model.export_encoder()
    torch.testing.assert_close(exported.predictor.mlp[0].weight, model.predictor.mlp[0].weight, rtol=0, atol=0)
    # checkpoints from before the hooks kept the predictor inside the context encoder
    legacy = {
        (k.replace("predictor.", "context_encoder.predictor.", 1) if k.startswith("predictor.") else k): v
        for k, v in model.state_dict().items()
    }
    fresh = TimeSeriesJepaForPreTraining(config)
    fresh.load_state_dict(legacy)
    torch.testing.assert_close(fresh.predictor.mlp[0].weight, model.predictor.mlp[0].weight, rtol=0, atol=0)
