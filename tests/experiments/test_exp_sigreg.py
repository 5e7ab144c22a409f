"""The deep-linear SIGReg study: its gradients against autograd of the stated loss, its SIGReg against the core's
statistic on Gaussian samples, and the picture it reports at depth 1."""

import json

import numpy as np
import pytest
import torch
from jepa_core.sigreg import epps_pulley

from experiments.implicit_bias.study import DATA
from experiments.sigreg import deep_linear
from experiments.sigreg.deep_linear import directions, loss_and_grads, sigreg_and_grad
from experiments.sigreg.demo_path import demo_steps


def torch_loss(layers, predictor, weight, stop_gradient, squares):
    """(1 − α)·J + α·R written from the docstring, in torch."""
    lam, sigma2 = torch.tensor(DATA.lam), torch.tensor(DATA.sigma2)
    gain = layers.prod(0)
    target = gain.detach() if stop_gradient else gain
    jepa = (0.5 * predictor**2 * gain**2 * sigma2 - predictor * gain * target * lam + 0.5 * target**2 * sigma2).sum()
    s2 = torch.tensor(squares) @ (gain**2 * sigma2)
    t = torch.linspace(0, 3, 17, dtype=torch.float64)
    w = torch.full((17,), 3 / 16, dtype=torch.float64) * torch.exp(-(t**2) / 2)
    w[[0, -1]] /= 2
    phi, gauss = torch.exp(-0.5 * s2[:, None] * t**2), torch.exp(-0.5 * t**2)
    reg = (w * (deep_linear.BATCH * (phi - gauss) ** 2 + 1 - phi**2)).sum(1).mean()
    return (1 - weight) * jepa + weight * reg


@pytest.mark.parametrize("stop_gradient", [True, False])
def test_gradients_match_autograd(stop_gradient):
    rng = np.random.default_rng(0)
    layers, predictor, squares = rng.uniform(0.3, 1.2, (3, 3)), rng.uniform(-1, 1, 3), directions(3)
    _, d_layers, d_predictor = loss_and_grads(layers, predictor, DATA, 0.3, stop_gradient, squares)
    params = [torch.tensor(x, requires_grad=True) for x in (layers, predictor)]
    torch_loss(*params, 0.3, stop_gradient, squares).backward()
    np.testing.assert_allclose(d_layers, params[0].grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d_predictor, params[1].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_sigreg_is_the_expected_core_statistic_of_gaussian_embeddings():
    variance = 0.4  # equal variances: every direction projects to N(0, 0.4), whatever the direction set
    expected, _ = sigreg_and_grad(np.full(3, variance), directions(3))
    samples = torch.randn(2000, deep_linear.BATCH, 1, generator=torch.Generator().manual_seed(0)) * variance**0.5
    measured = torch.stack([epps_pulley(batch.double()) for batch in samples])
    assert abs(measured.mean().item() - expected) < 3 * measured.std().item() / len(samples) ** 0.5


def test_depth_one_picture():
    with_sg = deep_linear.summary(deep_linear.train(DATA, 1, 0.05, True, 0.02, 500), DATA, 1)
    assert np.allclose(with_sg["whitened"], with_sg["whitened"][0], atol=1e-3) and with_sg["whitened"][0] > 0.95
    assert deep_linear.order(with_sg["t_star"]) == "noise < A < B"  # by input variance σ², not by ρ
    without_sg = deep_linear.summary(deep_linear.train(DATA, 1, 0.05, False, 0.02, 500), DATA, 1)
    assert without_sg["whitened"][2] < 1e-3 and 0.2 < without_sg["whitened"][0] < 0.5 < 1 < without_sg["whitened"][1]


def test_table_is_built_from_saved_results(tmp_path, capsys):
    """Saved (domain, seed) results are read, not run again, and summarised as mean ± half the range."""
    from experiments.sigreg import table

    for seed, (ema, sigreg) in enumerate([(0.70, 0.80), (0.74, 0.84)]):
        runs = {f"{o}@{s}": {"headline": value + 0.01 * (s == 40), "rankme": 10.0 + seed, "seconds": 30.0}
                for o, value in (("ema", ema), ("sigreg", sigreg)) for s in (10, 40)}  # fmt: skip
        runs["sigreg@10"]["sigreg_embeddings"] = runs["sigreg@40"]["sigreg_embeddings"] = "tokens"
        runs["sigreg@40"]["sigreg_view"] = "context"  # runs saved before `sigreg_view` existed: the full input
        result = {"metric": "linear probe", "steps": [10, 40], "random_init": 0.6, "runs": runs}
        (tmp_path / f"tjepa-{seed}.json").write_text(json.dumps(result))
    scale = ["--scale", str(10 / demo_steps("tjepa"))]  # the saved runs' step counts
    table.main(["--domains", "tjepa", "ijepa", "--seeds", "0", "1", "2", "--results", str(tmp_path), "--no-readme",
                "--saved-only", *scale])  # fmt: skip
    printed = capsys.readouterr().out
    assert "| ijepa" not in printed and "| tjepa | linear probe | 10 / 40 | 0 1 |" in printed
    table.main(["--domains", "tjepa", "--seeds", "0", "1", "--results", str(tmp_path), "--no-readme", *scale])
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| tjepa"))
    assert row == (
        "| tjepa | linear probe | 10 / 40 | 0 1 | 0.600 ± 0.000 | 0.720 ± 0.020 | 0.730 ± 0.020 | 0.820 ± 0.020 "
        "| 0.830 ± 0.020 | 10.5 ± 0.5 / 10.5 ± 0.5 | 10.5 ± 0.5 / 10.5 ± 0.5 | tokens, tokens (context view) |"
    )


def test_table_reruns_only_the_runs_missing_from_a_saved_result(tmp_path, monkeypatch):
    """A run deleted from a saved result (e.g. after a default changed) is the only one run again; the others and
    their order are kept."""
    from experiments.sigreg import table

    saved = {f"{o}@{s}": {"headline": 0.5, "rankme": 9.0, "seconds": 1.0} for o in table.OBJECTIVES for s in (10, 40)}
    del saved["sigreg@40"]
    (tmp_path / "tjepa-0.json").write_text(json.dumps({"metric": "m", "steps": [10, 40], "random_init": 0.4,
                                                       "runs": saved}))  # fmt: skip
    calls = []

    def fake_worker(module, args):
        calls.append(args)
        new = {"headline": 0.9, "rankme": 20.0, "seconds": 2.0, "sigreg_embeddings": "pooled"}
        return {"metric": "m", "steps": [10, 40], "random_init": 0.4, "runs": {"sigreg@40": new}}

    monkeypatch.setattr(table, "in_fresh_process", fake_worker)
    table.main(["--domains", "tjepa", "--seeds", "0", "--results", str(tmp_path), "--no-readme",
                "--scale", str(10 / demo_steps("tjepa"))])  # fmt: skip
    assert [args[args.index("--runs") + 1 :] for args in calls] == [["sigreg@40"]]
    result = json.loads((tmp_path / "tjepa-0.json").read_text())
    assert list(result["runs"]) == ["ema@10", "ema@40", "sigreg@10", "sigreg@40"]
    assert result["runs"]["sigreg@10"]["headline"] == 0.5 and result["runs"]["sigreg@40"]["headline"] == 0.9
    table.main(["--domains", "tjepa", "--seeds", "0", "--results", str(tmp_path), "--no-readme",
                "--scale", str(10 / demo_steps("tjepa"))])  # fmt: skip
    assert len(calls) == 1


def test_variants_are_read_from_saved_results_and_summarised(tmp_path, capsys):
    """Saved runs are not run again; each (domain, variant) row is the mean ± half the range over the seeds."""
    from experiments.sigreg import variants

    for variant, headline in (("pooled", 0.80), ("tokens", 0.90)):
        for seed in (0, 1):
            losses = {"prediction": 0.1, "sigreg": 2.0 + seed}
            result = {"settings": ["objective=sigreg"], "metric": "linear probe", "headline": headline + 0.02 * seed,
                      "rankme": 20.0 + seed, "losses": losses, "seconds": 60.0}  # fmt: skip
            (tmp_path / f"tjepa-{variant}-7-{seed}.json").write_text(json.dumps(result))
    tokens = ["tokens", "objective=sigreg", "sigreg_embeddings=tokens"]
    variants.main(["--domains", "tjepa", "--steps", "7", "--results", str(tmp_path), "--variant", "pooled",
                   "objective=sigreg", "--variant", *tokens])  # fmt: skip
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| tjepa")]
    assert rows == [
        "| tjepa | pooled | 7 | 0 1 | linear probe 0.810 ± 0.010 | 20.5 ± 0.5 | prediction 0.100 ± 0.000, "
        "sigreg 2.500 ± 0.500 | 1.0 |",
        "| tjepa | tokens | 7 | 0 1 | linear probe 0.910 ± 0.010 | 20.5 ± 0.5 | prediction 0.100 ± 0.000, "
        "sigreg 2.500 ± 0.500 | 1.0 |",
    ]
