import pytest
import torch
from jepa_core.sigreg import epps_pulley, random_directions, sigreg


def _gaussian(n=1024, d=32, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_gaussian_samples_score_near_zero_and_others_high():
    null = [sigreg(_gaussian(seed=s), step=s).item() for s in range(5)]
    assert max(null) < 1.0  # O(1) sampling error under N(0, I): N · E|φ̂ − φ|² stays small
    collapsed = torch.zeros(1024, 32) + 0.01 * _gaussian()
    anisotropic = _gaussian() * torch.linspace(0.1, 3.0, 32)
    shifted = _gaussian() + 2.0
    for other in (collapsed, anisotropic, shifted):
        assert sigreg(other, step=0).item() > 30 * max(null)


def test_statistic_matches_its_definition_on_one_direction():
    x = torch.tensor([[0.3], [-1.2], [2.0], [0.1]])
    t = torch.linspace(0, 3, 17)
    err = (torch.cos(x * t).mean(0) - torch.exp(-(t**2) / 2)) ** 2 + torch.sin(x * t).mean(0) ** 2
    w = torch.full((17,), 3 / 16)
    w[[0, -1]] /= 2
    expected = 4 * (err * w * torch.exp(-(t**2) / 2)).sum()
    assert epps_pulley(x).item() == pytest.approx(expected.item(), rel=1e-5)


def test_invariant_to_sample_order_and_fixed_by_the_step():
    x = _gaussian(256, 16) * 2
    assert sigreg(x, step=3).item() == pytest.approx(sigreg(x[torch.randperm(256)], step=3).item(), rel=1e-5)
    assert torch.equal(random_directions(16, 8, step=3), random_directions(16, 8, step=3))
    assert not torch.equal(random_directions(16, 8, step=3), random_directions(16, 8, step=4))
    assert torch.allclose(random_directions(16, 8, step=3).norm(dim=0), torch.ones(8))


def test_its_gradient_spreads_a_collapsed_batch():
    z = (0.05 * _gaussian(512, 8)).requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=0.05)
    start = sigreg(z.detach(), step=0).item()
    for step in range(100):
        optimizer.zero_grad()
        sigreg(z, step=step).backward()
        optimizer.step()
    assert z.detach().std().item() > 0.3 and sigreg(z.detach(), step=0).item() < 0.2 * start


def test_sigreg_objective_trains_without_a_teacher_and_logs_both_terms(tmp_path):
    from jepa_core.training import TrainingArguments, pretrain
    from safetensors.torch import load_file
    from toy_domain import ToyConfig, ToyForPreTraining, ToySignals, toy_collator

    config = ToyConfig.from_preset("tiny", objective="sigreg", sigreg_weight=0.5)
    model = ToyForPreTraining(config)
    assert model.momentum_pairs() == [] and model.export_encoder() is model.context_encoder
    args = TrainingArguments.from_config(config, str(tmp_path / "run"), max_steps=30, save_every=15,
                                         show_progress=False)  # fmt: skip
    metrics = pretrain(model, ToySignals(), toy_collator(config), args)
    history = [row for row in __import__("json").loads((tmp_path / "run" / "metrics.json").read_text())["history"]]
    first, last = history[0], history[-1]
    assert {"loss_prediction", "loss_sigreg"} <= set(first)
    assert last["loss_sigreg"] < first["loss_sigreg"]
    assert first["loss"] == pytest.approx(0.5 * first["loss_prediction"] + 0.5 * first["loss_sigreg"], rel=1e-4)
    assert int(model.sigreg_step) == 30 and metrics["final_rankme"] > 3
    weights = load_file(str(tmp_path / "run" / "pretraining" / "model.safetensors"))
    assert "sigreg_step" in weights and not any(k.startswith("target.") for k in weights)
    with pytest.raises(ValueError, match="objective must be one of"):
        ToyConfig(objective="vicreg")


def test_the_step_seeding_the_directions_is_read_from_the_buffer_once_and_after_loading():
    """The model keeps the step on the host (no GPU sync per step); a loaded state's step is used from then on."""
    from toy_domain import ToyConfig, ToyForPreTraining

    model = ToyForPreTraining(ToyConfig.from_preset("tiny", objective="sigreg")).train()
    hidden = torch.randn(4, 5, model.config.hidden_size)
    for _ in range(2):
        model.objective_loss(torch.tensor(0.0), hidden, hidden[:, :2])
    assert int(model.sigreg_step) == 2 and model._host_sigreg_step == 2
    model.load_state_dict({**model.state_dict(), "sigreg_step": torch.tensor(7)})
    assert model._host_sigreg_step is None
    with torch.no_grad():
        _, parts = model.objective_loss(torch.tensor(0.0), hidden, hidden[:, :2])
        expected = sigreg(model.sigreg_projector(hidden.mean(dim=1)), 7, model.config.sigreg_num_directions)
    assert parts["sigreg"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert int(model.sigreg_step) == 8 == model._host_sigreg_step


@pytest.mark.parametrize(("view", "stop_gradient", "graph"), [("context", True, False), ("context", False, True),
                                                             ("full", True, True)])  # fmt: skip
def test_the_full_input_pass_builds_a_graph_only_when_something_needs_its_gradient(view, stop_gradient, graph):
    """SIGReg on the context view with stop-gradient: the full-input pass runs without autograd (an EMA step's
    cost), and the encoder still gets SIGReg's and the prediction's gradients through the context."""
    from toy_domain import ToyConfig, ToyForPreTraining, ToySignals, toy_collator

    config = ToyConfig.from_preset("tiny", objective="sigreg", sigreg_view=view, sigreg_stop_gradient=stop_gradient)
    model = ToyForPreTraining(config).train()
    batch = toy_collator(config)([ToySignals()[i] for i in range(4)])
    targets, hidden = model.target({"input_values": batch["input_values"]}, batch["target_indices"])
    assert hidden.requires_grad is graph and targets.requires_grad is not stop_gradient
    model(**batch).loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.context_encoder.parameters())


@pytest.mark.parametrize("view", ["full", "context"])
@pytest.mark.parametrize("embeddings", ["pooled", "tokens"])
def test_sigreg_sees_one_sample_per_input_or_per_token_of_its_view(embeddings, view):
    from toy_domain import ToyConfig, ToyForPreTraining

    config = ToyConfig.from_preset("tiny", objective="sigreg", sigreg_embeddings=embeddings, sigreg_weight=1.0,
                                   sigreg_view=view)  # fmt: skip
    model = ToyForPreTraining(config).train()
    hidden = torch.randn(4, 5, config.hidden_size) + torch.linspace(-2, 2, 5)[:, None]  # tokens differ by position
    context = torch.randn(4, 3, config.hidden_size)
    loss, parts = model.objective_loss(torch.tensor(0.0), hidden, context)
    states = hidden if view == "full" else context
    samples = states.mean(dim=1) if embeddings == "pooled" else states.flatten(0, 1)
    expected = sigreg(model.sigreg_projector(samples), 0, config.sigreg_num_directions)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6) == parts["sigreg"].item()
    with pytest.raises(ValueError, match="sigreg_embeddings must be one of"):
        ToyConfig(objective="sigreg", sigreg_embeddings="cls")
    with pytest.raises(ValueError, match="sigreg_view must be one of"):
        ToyConfig(objective="sigreg", sigreg_view="target")


@pytest.mark.parametrize("chunk_rows", [None, 7])
def test_value_and_gradient_are_those_of_the_definition(chunk_rows, monkeypatch):
    if chunk_rows:  # rows in chunks of 7 (the last one shorter), as long inputs go
        monkeypatch.setattr("jepa_core.sigreg.CHUNK_ELEMENTS", 12 * chunk_rows)
    x = (1.5 * _gaussian(300, 12) + 0.3).requires_grad_(True)
    statistic = epps_pulley(x)
    statistic.sum().backward()
    exact = x.detach().double().requires_grad_(True)
    t = torch.linspace(0, 3, 17, dtype=torch.double)
    angles = exact[:, :, None] * t
    err = (angles.cos().mean(0) - torch.exp(-(t**2) / 2)) ** 2 + angles.sin().mean(0) ** 2
    w = torch.full((17,), 3 / 16, dtype=torch.double)
    w[[0, -1]] /= 2
    expected = 300 * (err * w * torch.exp(-(t**2) / 2)).sum(-1)
    expected.sum().backward()
    assert torch.allclose(statistic.double(), expected, rtol=1e-4, atol=1e-5)
    assert torch.allclose(x.grad.double(), exact.grad, rtol=1e-4, atol=1e-6 * exact.grad.abs().max().item())
