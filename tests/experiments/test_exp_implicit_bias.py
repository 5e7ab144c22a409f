"""The deep-linear implicit-bias study: GD against the closed forms of spec §3 on small fast configurations."""

import json

import numpy as np
import pytest
import torch

from experiments.implicit_bias import study, theory
from experiments.implicit_bias.deep_linear import DiagonalData, balanced_init, loss_and_grads, train

DATA = study.DATA  # (λ, ρ) = A (1, .6), B (.7, .95), noise (1, .3)
EPS = study.EPS


def torch_loss(layers, data, method, stop_gradient=True):
    *encoder, predictor = layers
    product = encoder[0]
    for w in encoder[1:]:
        product = w @ product
    sxx, syx = torch.diag(torch.tensor(data.sigma2)), torch.diag(torch.tensor(data.lam))
    joint = predictor @ product
    if method == "mae":
        return 0.5 * torch.trace(joint @ sxx @ joint.T) - torch.trace(joint @ syx.T)
    target = product.detach() if stop_gradient else product
    return 0.5 * torch.trace(joint @ sxx @ joint.T) - torch.trace(joint @ syx.T @ target.T)


@pytest.mark.parametrize("method", ["jepa", "mae"])
def test_gradients_match_autograd_of_the_stated_losses(method):
    rng = np.random.default_rng(0)
    layers = [rng.standard_normal((3, 3)) * 0.5 for _ in range(4)]  # L = 3, unbalanced on purpose
    loss, grads = loss_and_grads(layers, DATA, method)
    params = [torch.tensor(w, requires_grad=True) for w in layers]
    reference = torch_loss(params, DATA, method)
    reference.backward()
    assert loss == pytest.approx(reference.item(), rel=1e-12)
    for g, p in zip(grads, params, strict=True):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-10, atol=1e-12)
    if method == "jepa":  # the stop-gradient matters: without it the encoder gradients differ
        params = [torch.tensor(w, requires_grad=True) for w in layers]
        torch_loss(params, DATA, method, stop_gradient=False).backward()
        assert not np.allclose(grads[0], params[0].grad.numpy(), atol=1e-3)


def test_balanced_init_scales_and_balance():
    layers = balanced_init(3, 4, 1e-2, np.random.default_rng(1))
    product = layers[3] @ layers[2] @ layers[1] @ layers[0]
    np.testing.assert_allclose(np.linalg.norm(product, axis=0), [1e-2] * 3, rtol=1e-12)
    for lower, upper in zip(layers[:-1], layers[1:], strict=True):
        np.testing.assert_allclose(upper.T @ upper, lower @ lower.T, atol=1e-15)
    np.testing.assert_allclose(balanced_init(2, 2, 0.04)[0], 0.2 * np.eye(2))


@pytest.mark.parametrize(
    ("method", "depth", "lr"),
    [("jepa", 1, 0.2), ("jepa", 2, 0.2), ("jepa", 3, 0.2), ("mae", 1, 0.05), ("mae", 3, 0.05)],
)
def test_converged_gains_are_rho_to_the_L_for_jepa_and_L_over_L_plus_1_for_mae(method, depth, lr):
    duration = theory.settle_time(method, DATA.lam, DATA.rho, depth, EPS)
    gains = train(DATA, method, depth, EPS, lr, duration, record_every=10**9).final_gains
    exponent = depth if method == "jepa" else depth / (depth + 1)
    np.testing.assert_allclose(gains, DATA.rho**exponent, atol=1e-3)
    if (method, depth) == ("jepa", 2):
        np.testing.assert_allclose(gains, [0.36, 0.9025, 0.09], atol=1e-3)
    if (method, depth) == ("mae", 3):
        np.testing.assert_allclose(gains, [0.681732, 0.962261, 0.405360], atol=1e-3)


@pytest.fixture(scope="module")
def short_runs():
    """JEPA L=1 (200 time units) and MAE L=3 (20) at lr and lr/2, with the ODE on the same grid."""
    runs = {}
    for method, depth, lr, duration in [("jepa", 1, 0.05, 200.0), ("mae", 3, 0.01, 20.0)]:
        for step in (lr, lr / 2):
            traj = train(DATA, method, depth, EPS, step, duration, record_every=int(round(0.1 / step)))
            ode = theory.solve_gains(method, DATA.lam, DATA.rho, depth, EPS, traj.times)
            runs[method, step] = (traj, ode)
    return runs


def test_gd_tracks_the_closed_form_odes_with_first_order_error(short_runs):
    for method, lr in [("jepa", 0.05), ("mae", 0.01)]:
        errors = [np.abs(traj.gains - ode).max() for traj, ode in (short_runs[method, lr], short_runs[method, lr / 2])]
        assert errors[0] < 0.02, (method, errors)
        assert 1.7 < errors[0] / errors[1] < 2.3, (method, errors)  # Euler: halving the step halves the gap
        traj, ode = short_runs[method, lr / 2]
        assert np.abs(traj.gains[-1] - ode[-1]).max() < 1e-4  # both have settled on the same values


def test_simulated_critical_times_match_quadrature(short_runs):
    for method, depth, lr in [("jepa", 1, 0.025), ("mae", 3, 0.005)]:
        traj, _ = short_runs[method, lr]
        for i in range(DATA.dim):
            fixed = theory.fixed_point(method, DATA.rho[i], depth)
            simulated = depth * theory.crossing_time(traj.times, traj.gains[:, i], 0.5 * fixed)
            exact = theory.critical_time_exact(method, DATA.lam[i], DATA.rho[i], depth, EPS)
            assert simulated == pytest.approx(exact, rel=5e-3), (method, i)


def test_critical_time_formula_matches_quadrature_as_eps_vanishes():
    # spec §3.3 check: L=3, ε=1e-4, λ=1, ρ=.5: formula 3.1547e6, quadrature to u = ρ/2 (gain fraction 0.5^3) 3.1533e6
    assert theory.critical_time_formula("jepa", 1.0, 0.5, 3, 1e-4) == pytest.approx(3.1547e6, rel=2e-4)
    assert theory.critical_time_exact("jepa", 1.0, 0.5, 3, 1e-4, fraction=0.125) == pytest.approx(3.1533e6, rel=2e-4)
    for depth in range(1, 7):
        for lam, rho in zip(DATA.lam, DATA.rho, strict=True):
            exact = theory.critical_time_exact("jepa", lam, rho, depth, 1e-6)
            assert theory.critical_time_formula("jepa", lam, rho, depth, 1e-6) == pytest.approx(exact, rel=1e-3)
            # MAE: leading term + O(1); the gap to the quadrature stays bounded while both grow like ε^{-(L-1)/L}
            gaps = [
                theory.critical_time_exact("mae", lam, rho, depth, eps)
                - theory.critical_time_formula("mae", lam, rho, depth, eps)
                for eps in (1e-6, 1e-9)
            ]
            assert abs(gaps[0]) < 4 and gaps[1] == pytest.approx(gaps[0], abs=0.1), (depth, gaps)


def test_spec_ratios_of_critical_times_across_depth():
    # spec §3.3: f0 = (λ 1, ρ .6), f1 = (λ .5, ρ .95), ε = 1e-6, time for u to reach u∞/2
    def ratio(method, depth):
        fraction = 0.5**depth
        slow = theory.critical_time_exact(method, 0.5, 0.95, depth, 1e-6, fraction)
        return slow / theory.critical_time_exact(method, 1.0, 0.6, depth, 1e-6, fraction)

    jepa = [ratio("jepa", depth) for depth in range(1, 7)]
    np.testing.assert_allclose(jepa, [2.00, 2.00, 1.98, 1.95, 1.91, 1.85], atol=0.006)
    mae = [ratio("mae", depth) for depth in range(1, 7)]
    assert all(1.99 < r < 2.05 for r in mae), mae


def test_learning_order_is_by_rho_for_deep_jepa_and_by_lambda_for_mae():
    def ratio(method, depth):
        times = [theory.critical_time_exact(method, DATA.lam[i], DATA.rho[i], depth, EPS) for i in (0, 1)]
        return times[1] / times[0]

    jepa = [ratio("jepa", depth) for depth in range(1, 7)]
    mae = [ratio("mae", depth) for depth in range(1, 7)]
    assert jepa[0] > 1.3 and all(r < 1 for r in jepa[3:]), jepa  # A (high λ) first when shallow, B (high ρ) when deep
    assert all(r > 1.4 for r in mae), mae  # MAE: always A, whatever the depth
    # the same in simulation at L = 4
    jepa_run = train(DATA, "jepa", 4, EPS, 0.2, 1300.0)
    mae_run = train(DATA, "mae", 4, EPS, 0.01, 20.0)
    order = {}
    for name, run, method in [("jepa", jepa_run, "jepa"), ("mae", mae_run, "mae")]:
        fixed = theory.fixed_point(method, DATA.rho, 4)
        order[name] = [theory.crossing_time(run.times, run.gains[:, i], 0.5 * fixed[i]) for i in range(3)]
    assert order["jepa"][1] < order["jepa"][0] < np.inf
    assert order["mae"][0] < order["mae"][1]
    # the noise feature: ρ = .3 < ε^{1/4} = .316, so JEPA never grows it while MAE learns it
    noise = jepa_run.gains[:, 2]
    assert np.all(np.diff(noise) <= 1e-15) and noise[-1] < EPS
    assert order["mae"][2] < np.inf and mae_run.final_gains[2] == pytest.approx(0.3 ** (4 / 5), abs=1e-3)


def test_noise_threshold_eps_to_the_one_over_L():
    learned = [bool(theory.learnable("jepa", 0.3, depth, EPS)) for depth in range(1, 7)]
    assert learned == [True, True, True, False, False, False]  # ε^{1/L} = .01, .1, .215, .316, .398, .464
    assert theory.learnable("mae", 0.3, 6, EPS)
    grows = train(DATA, "jepa", 3, EPS, 0.2, 300.0).gains[:, 2]  # ρ = .3 > ε^{1/3} = .215: grows, slowly
    assert grows[-1] > 1.05 * EPS and np.all(np.diff(grows) >= 0)


def test_latent_plus_noise_model_and_samples():
    data = DiagonalData.latent_plus_noise([1.0, 2.0], [1.0, 6.0])
    np.testing.assert_allclose(data.rho, [0.5, 0.25])
    x, y = data.sample(200_000, np.random.default_rng(0))
    np.testing.assert_allclose((x * x).mean(0), data.sigma2, rtol=0.02)
    np.testing.assert_allclose((y * x).mean(0), data.lam, rtol=0.03)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="positive"):
        DiagonalData([1.0, -0.5], [1.0, 1.0])
    with pytest.raises(ValueError, match="equal length"):
        DiagonalData([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="method"):
        loss_and_grads(balanced_init(2, 1, 0.1), DiagonalData([1.0, 1.0], [2.0, 2.0]), "simclr")
    with pytest.raises(ValueError, match="depth"):
        balanced_init(2, 0, 0.1)


def test_study_writes_tables_plots_and_results(tmp_path, capsys):
    results = study.main(["--depths", "1", "2", "--out", str(tmp_path)])
    assert {p.name for p in tmp_path.iterdir()} == {"trajectories.png", "gains_times_order.png", "results.json"}
    assert (tmp_path / "trajectories.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["runs"]) == len(results) == 4
    for run in saved["runs"]:
        for feature in run["features"]:
            assert abs(feature["final_gain"] - feature["fixed_point"]) < 1e-3
            assert feature["t_sim"] == pytest.approx(feature["t_exact"], rel=5e-3)
    assert "Learning order" in capsys.readouterr().out
