"""Does SIGReg change the deep-linear JEPA's ρ-ordering? The `implicit_bias` setting with SIGReg added.

Setting (experiments/implicit_bias, Littwin et al. 2024): views x, y with E[xxᵀ] = E[yyᵀ] = S = diag(σ²) and
E[yxᵀ] = Λ = diag(λ), ρ = λ/σ²; encoder W̄ = W_L⋯W_1 and predictor V on the population loss, float64 full-batch
GD from the balanced identity-aligned init (product ε). The JEPA term is
J = ½E‖VW̄x − W̄y‖² with the target stopped (`sg`, the implicit_bias model) or not (LeJEPA's choice), and the loss
is (1 − α)·J + α·R, R the expected value of the core's SIGReg statistic (`jepa_core.sigreg`, batch N) of the
Gaussian embeddings z = W̄x, whose projections aᵀz ~ N(0, s²), s² = aᵀW̄SW̄ᵀa:

    R = mean_a Σ_k w_k [N (e^{−s²t_k²/2} − e^{−t_k²/2})² + 1 − e^{−s²t_k²}]

(the first term is N × the population Epps–Pulley distance, the second the sampling term of a batch of N), with
the core's 17 knots and weights and fixed directions closed under sign flips (so a diagonal model stays diagonal
and every feature follows its own path). Reported per depth: the encoder gain of each feature relative to the
whitened value 1/σ (what SIGReg asks for), the critical times t* (gain at half its final value, L × GD time, as
implicit_bias) and the order in which features are learned. Run from the repository root (< 1 min):

    uv run --no-sync python -m experiments.sigreg.deep_linear [--depths 1 2 4 6] [--weights 0.05]
"""

import argparse
import itertools
import time

import numpy as np

from experiments.implicit_bias import theory
from experiments.implicit_bias.deep_linear import DiagonalData
from experiments.implicit_bias.study import DATA, EPS, FEATURES

BATCH = 64  # N of the core's statistic (I-JEPA tiny's batch)
KNOTS = np.linspace(0.0, 3.0, 17)
WEIGHTS = np.full(17, 3.0 / 16) * np.exp(-0.5 * KNOTS**2)
WEIGHTS[[0, -1]] /= 2


def directions(dim: int, base: int = 16) -> np.ndarray:
    """(base · dim!, dim) squared coordinates a_i² of unit directions: `base` Fibonacci-lattice points of the sphere
    under every permutation of the coordinates (no feature is favoured). Closed under sign flips too, the set keeps a
    diagonal model diagonal, so only the squares matter."""
    golden = np.pi * (3 - np.sqrt(5))
    height = 1 - (np.arange(base) + 0.5) / base
    radius = np.sqrt(1 - height**2)
    angle = golden * np.arange(base)
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle), height] + [np.zeros(base)] * (dim - 3))[:dim]
    points = points**2 / (points**2).sum(0)
    return np.concatenate([points[list(order)].T for order in itertools.permutations(range(dim))])


def sigreg_and_grad(variances: np.ndarray, squares: np.ndarray) -> tuple[float, np.ndarray]:
    """R of embeddings with independent coordinates of variances s_i² (see the module docstring) and dR/ds²."""
    s2 = squares @ variances  # (M,): the variance of each projection
    phi = np.exp(-0.5 * s2[:, None] * KNOTS**2)  # (M, K): N(0, s²)'s characteristic function
    gauss = np.exp(-0.5 * KNOTS**2)
    value = (WEIGHTS * (BATCH * (phi - gauss) ** 2 + 1 - phi**2)).sum(1).mean()
    d_s2 = (WEIGHTS * (2 * BATCH * (phi - gauss) - 2 * phi) * (-0.5 * KNOTS**2) * phi).sum(1)
    return float(value), d_s2 @ squares / len(s2)


def loss_and_grads(
    layers: np.ndarray, predictor: np.ndarray, data: DiagonalData, weight: float, stop_gradient: bool, squares
) -> tuple[float, np.ndarray, np.ndarray]:
    """(1 − α)·J + α·R on the diagonals (`layers` (L, d), `predictor` (d,)) and its gradients for both."""
    gain = layers.prod(0)
    lam, sigma2 = data.lam, data.sigma2
    jepa = np.sum(gain**2 * (0.5 * predictor**2 * sigma2 - predictor * lam + 0.5 * sigma2))
    d_gain = gain * predictor * (predictor * sigma2 - lam)  # the online branch
    if not stop_gradient:  # the target branch W̄y too
        d_gain = d_gain + gain * (sigma2 - predictor * lam)
    reg, d_variances = sigreg_and_grad(gain**2 * sigma2, squares) if weight else (0.0, 0.0)
    d_gain = (1 - weight) * d_gain + weight * d_variances * 2 * gain * sigma2
    others = np.stack([np.delete(layers, a, axis=0).prod(0) for a in range(len(layers))])
    d_predictor = (1 - weight) * gain**2 * (predictor * sigma2 - lam)
    return (1 - weight) * jepa + weight * reg, d_gain * others, d_predictor


def train(data: DiagonalData, depth: int, weight: float, stop_gradient: bool, lr: float, max_time: float) -> dict:
    """GD from the balanced aligned init (every factor ε^{1/L}) until the gains settle (relative change < 1e-7 per
    unit time) or `max_time`; the gains over time."""
    layers, predictor = np.full((depth, data.dim), EPS ** (1 / depth)), np.full(data.dim, EPS ** (1 / depth))
    squares = directions(data.dim)
    times, gains, step = [0.0], [layers.prod(0)], 0
    while step * lr < max_time:
        _, d_layers, d_predictor = loss_and_grads(layers, predictor, data, weight, stop_gradient, squares)
        layers, predictor = layers - lr * d_layers, predictor - lr * d_predictor
        step += 1
        times.append(step * lr)
        gains.append(layers.prod(0))
        if step % 200 == 0 and np.abs(gains[-1] - gains[-201]).max() < 1e-7 * 200 * lr * gains[-1].max():
            break
    return {"times": np.array(times), "gains": np.array(gains)}


def summary(run: dict, data: DiagonalData, depth: int) -> dict:
    final = run["gains"][-1]
    t_star = [
        depth * theory.crossing_time(run["times"], run["gains"][:, i], 0.5 * final[i])
        if final[i] > 2 * EPS
        else float("inf")
        for i in range(data.dim)
    ]
    return {"whitened": final * np.sqrt(data.sigma2), "t_star": np.array(t_star)}


def ratio(t_star: np.ndarray) -> str:
    """t*(B)/t*(A): > 1 when A (larger λ and σ²) is learned first, < 1 for the ρ-order."""
    return f"{t_star[1] / t_star[0]:.3f}" if np.isfinite(t_star[:2]).all() else "–"


def order(t_star: np.ndarray) -> str:
    learned = [i for i in np.argsort(t_star) if np.isfinite(t_star[i])]
    return " < ".join(FEATURES[i] for i in learned) or "none"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 2, 4, 6])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.05], help="SIGReg weights α")
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--max-time", type=float, default=2000.0)
    args = parser.parse_args(argv)
    started = time.time()
    features = zip(FEATURES, DATA.lam, DATA.rho, DATA.sigma2, strict=True)
    print("features (λ, ρ, σ²): " + ", ".join(f"{n} ({lam:g}, {rho:g}, {s2:.2f})" for n, lam, rho, s2 in features))
    print(f"ε = {EPS}, N = {BATCH}, lr {args.lr}; gains relative to the whitened 1/σ; t* in L × GD time\n")
    print("| objective | L | gain·σ A / B / noise | t* A / B / noise | learned first → last | t*(B)/t*(A) |")
    print("|---|---|---|---|---|---|")
    for depth in args.depths:
        pairs = zip(DATA.lam, DATA.rho, strict=True)
        exact = [theory.critical_time_exact("jepa", lam, rho, depth, EPS) for lam, rho in pairs]
        learnable = theory.learnable("jepa", DATA.rho, depth, EPS)
        fixed = theory.fixed_point("jepa", DATA.rho, depth) * np.sqrt(DATA.sigma2)
        t_base = np.where(learnable, exact, np.inf)
        print(f"| JEPA sg, α = 0 (theory) | {depth} | {' / '.join(f'{g:.3f}' for g in fixed)} | "
              f"{' / '.join(f'{t:.3g}' for t in t_base)} | {order(t_base)} | {ratio(t_base)} |")  # fmt: skip
        for weight in args.weights:
            for stop_gradient in (True, False):
                result = summary(train(DATA, depth, weight, stop_gradient, args.lr, args.max_time), DATA, depth)
                name = f"JEPA {'sg' if stop_gradient else 'no sg'} + SIGReg, α = {weight:g}"
                t_star, gains = result["t_star"], result["whitened"]
                print(f"| {name} | {depth} | {' / '.join(f'{g:.3f}' for g in gains)} | "
                      f"{' / '.join(f'{t:.3g}' for t in t_star)} | {order(t_star)} | "
                      f"{ratio(t_star)} |", flush=True)  # fmt: skip
    print(f"\n{time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
