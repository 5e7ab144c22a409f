"""Closed forms of the deep-linear theory (spec §3.2–3.3): per-feature ODEs, fixed points, critical times.

Time conventions: "GD time" is ``lr · steps`` of plain gradient descent; the paper's time drops a factor
``L`` (``t_paper = L · t_GD``). The per-feature ODE of the encoder gain ``w̄`` in GD time is

- JEPA: ``dw̄/dt = L (λ w̄^{3−1/L} − (λ/ρ) w̄³)``, fixed point ``w̄∞ = ρ^L``;
- MAE:  ``dw̄/dt = L (λ w̄^{2−1/L} − (λ/ρ) w̄³)``, fixed point ``w̄∞ = ρ^{L/(L+1)}``.
"""

import numpy as np
from scipy.integrate import quad, solve_ivp

from .deep_linear import METHODS


def _check(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def fixed_point(method: str, rho, depth: int):
    """Converged encoder gain ``ρ^L`` (JEPA) or ``ρ^{L/(L+1)}`` (MAE)."""
    _check(method)
    rho = np.asarray(rho, float)
    return rho**depth if method == "jepa" else rho ** (depth / (depth + 1))


def gain_rate(method: str, gain, lam, rho, depth: int):
    """Right-hand side of the per-feature ODE in GD time."""
    _check(method)
    growth_power = 3 - 1 / depth if method == "jepa" else 2 - 1 / depth
    return depth * (lam * gain**growth_power - (lam / rho) * gain**3)


def solve_gains(method: str, lam, rho, depth: int, eps: float, times: np.ndarray) -> np.ndarray:
    """Integrate the per-feature ODEs from ``w̄(0) = eps`` and return ``(len(times), d)`` gains."""
    lam, rho = np.atleast_1d(np.asarray(lam, float)), np.atleast_1d(np.asarray(rho, float))
    solution = solve_ivp(
        lambda _, w: gain_rate(method, np.maximum(w, 0.0), lam, rho, depth),
        (0.0, float(times[-1])),
        np.full(lam.shape, eps),
        t_eval=times,
        method="LSODA",
        rtol=1e-10,
        atol=1e-14,
    )
    if not solution.success:
        raise RuntimeError(f"ODE integration failed: {solution.message}")
    return solution.y.T


def learnable(method: str, rho, depth: int, eps: float):
    """Whether the gain grows from ``eps``: always for MAE; for JEPA only when ``ρ > eps^{1/L}``."""
    _check(method)
    rho = np.asarray(rho, float)
    return rho > eps ** (1 / depth) if method == "jepa" else np.ones(rho.shape, bool)


def critical_time_formula(method: str, lam: float, rho: float, depth: int, eps: float) -> float:
    """The paper's small-ε critical time in paper units (spec §3.3).

    JEPA: ``(1/λ) Σ_{n=1}^{2L−1} L / (n ρ^{2L−n−1} ε^{n/L}) + log(1/ε) / (λ ρ^{2L−1})``;
    MAE: ``L / ((L−1) λ ε^{(L−1)/L})`` for L ≥ 2 and ``log(1/ε) / λ`` for L = 1.
    """
    _check(method)
    L = depth
    if method == "jepa":
        series = sum(L / (n * rho ** (2 * L - n - 1) * eps ** (n / L)) for n in range(1, 2 * L))
        return (series + np.log(1 / eps) / rho ** (2 * L - 1)) / lam
    if L == 1:
        return np.log(1 / eps) / lam
    return L / ((L - 1) * lam * eps ** ((L - 1) / L))


def critical_time_exact(method: str, lam: float, rho: float, depth: int, eps: float, fraction: float = 0.5) -> float:
    """Paper-unit time for the gain to go from ``eps`` to ``fraction · w̄∞``, by quadrature of the ODE.

    With ``u = w̄^{1/L}``: JEPA ``t = (L/λ) ∫ u^{−2L} / (1 − u/ρ) du``, MAE ``t = (L/λ) ∫ u^{−L} / (1 − u^{L+1}/ρ) du``.
    Returns ``inf`` when the feature never reaches that gain.
    """
    _check(method)
    L = depth
    start = eps ** (1 / L)
    end = (fraction * fixed_point(method, rho, L)) ** (1 / L)
    if start >= end:
        return float("inf")
    if method == "jepa":
        integrand = lambda u: u ** (-2 * L) / (1 - u / rho)  # noqa: E731
    else:
        integrand = lambda u: u ** (-L) / (1 - u ** (L + 1) / rho)  # noqa: E731
    # split the range geometrically so the steep start is resolved
    edges = np.geomspace(start, end, 8)
    return L / lam * sum(quad(integrand, a, b, limit=200)[0] for a, b in zip(edges[:-1], edges[1:], strict=True))


def crossing_time(times: np.ndarray, values: np.ndarray, level: float) -> float:
    """First time ``values`` reaches ``level`` (linear interpolation), ``inf`` if never."""
    above = np.nonzero(values >= level)[0]
    if len(above) == 0:
        return float("inf")
    i = above[0]
    if i == 0:
        return float(times[0])
    t0, t1, v0, v1 = times[i - 1], times[i], values[i - 1], values[i]
    return float(t0 + (level - v0) * (t1 - t0) / (v1 - v0))


def relaxation_rate(method: str, lam, rho, depth: int):
    """GD-time rate of the final approach to the fixed point: ``λ ρ^{2L−1}`` (JEPA), ``(L+1) λ w̄∞^{1−1/L}`` (MAE)."""
    _check(method)
    lam, rho = np.asarray(lam, float), np.asarray(rho, float)
    if method == "jepa":
        return lam * rho ** (2 * depth - 1)
    return (depth + 1) * lam * fixed_point(method, rho, depth) ** (1 - 1 / depth)


def settle_time(method: str, lam, rho, depth: int, eps: float, tol: float = 1e-5) -> float:
    """GD time after which every learnable feature is within about ``tol`` of its fixed point."""
    lam, rho = np.atleast_1d(np.asarray(lam, float)), np.atleast_1d(np.asarray(rho, float))
    rates = relaxation_rate(method, lam, rho, depth)
    times = [
        critical_time_exact(method, lam_i, rho_i, depth, eps) / depth
        + np.log(fixed_point(method, rho_i, depth) / tol) / rate
        for lam_i, rho_i, rate, ok in zip(lam, rho, rates, learnable(method, rho, depth, eps), strict=True)
        if ok
    ]
    if not times:
        raise ValueError("no feature is learnable at this depth and init; nothing to settle")
    return float(max(times))
