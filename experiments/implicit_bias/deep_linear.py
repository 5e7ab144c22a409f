"""Deep linear JEPA and MAE on a simultaneously diagonal data model, trained by full-batch gradient descent.

Setting of Littwin et al. 2024 ("How JEPA Avoids Noisy Features", arXiv 2407.03475): views x, y in R^d with
``E[x xᵀ] = diag(σ²)`` and ``E[y xᵀ] = diag(λ)``, so feature i has regression coefficient ``ρ_i = λ_i / σ_i²``.
Encoder ``W̄ = W_L ⋯ W_1`` and linear predictor ``V``, both d×d, trained on the population loss

- JEPA: ``½ E‖V W̄ x − sg(W̄ y)‖²`` (the target is the same encoder with its gradient stopped, no EMA),
- MAE:  ``½ E‖V W̄ x − y‖²``,

in float64 with step ``lr``; time is ``t = lr · steps`` (gradient-flow time).
"""

from dataclasses import dataclass

import numpy as np

METHODS = ("jepa", "mae")


@dataclass(frozen=True)
class DiagonalData:
    """Per-feature cross-covariance ``lam`` (λ_i = E[y_i x_i]) and input variance ``sigma2`` (σ_i² = E[x_i²])."""

    lam: np.ndarray
    sigma2: np.ndarray

    def __post_init__(self):
        lam, sigma2 = np.asarray(self.lam, float), np.asarray(self.sigma2, float)
        if lam.shape != sigma2.shape or lam.ndim != 1:
            raise ValueError(f"lam and sigma2 must be 1-D of equal length, got {lam.shape} and {sigma2.shape}")
        if np.any(lam <= 0) or np.any(sigma2 <= 0):
            raise ValueError("lam and sigma2 must be positive (a feature with λ <= 0 is never learned by either loss)")
        object.__setattr__(self, "lam", lam)
        object.__setattr__(self, "sigma2", sigma2)

    @classmethod
    def from_rho(cls, lam, rho) -> "DiagonalData":
        """Features given by (λ_i, ρ_i): σ_i² = λ_i / ρ_i."""
        lam, rho = np.asarray(lam, float), np.asarray(rho, float)
        return cls(lam, lam / rho)

    @classmethod
    def latent_plus_noise(cls, latent_var, noise_var) -> "DiagonalData":
        """Static model x = z + ξ, y = z + ξ′ (independent noises): λ = Var z, σ² = Var z + Var ξ."""
        latent_var, noise_var = np.asarray(latent_var, float), np.asarray(noise_var, float)
        return cls(latent_var, latent_var + noise_var)

    @property
    def rho(self) -> np.ndarray:
        return self.lam / self.sigma2

    @property
    def dim(self) -> int:
        return len(self.lam)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` Gaussian view pairs (x, y) with these covariances: y_i = ρ_i x_i + independent noise."""
        x = rng.standard_normal((n, self.dim)) * np.sqrt(self.sigma2)
        y = self.rho * x + rng.standard_normal((n, self.dim)) * np.sqrt(self.lam)
        return x, y


def balanced_init(dim: int, depth: int, eps: float, rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """``depth`` encoder layers then the predictor, each ``eps^(1/depth) · U`` with U orthogonal.

    ``rng=None`` gives U = I (the modes of the data stay decoupled, so each feature follows its scalar ODE
    exactly); otherwise each U is a random orthogonal matrix (Haar). The encoder product starts at ``eps · Q``
    (every column norm equal to ``eps``) and the layers are balanced (W_{a+1}ᵀ W_{a+1} = W_a W_aᵀ).
    """
    if depth < 1 or eps <= 0:
        raise ValueError(f"need depth >= 1 and eps > 0, got depth={depth}, eps={eps}")
    scale = eps ** (1.0 / depth)
    if rng is None:
        return [scale * np.eye(dim) for _ in range(depth + 1)]
    layers = []
    for _ in range(depth + 1):
        q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
        layers.append(scale * q * np.sign(np.diag(r)))
    return layers


def _products(encoder: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``below[a] = W_{a-1}⋯W_1`` and ``above[a] = W_L⋯W_{a+1}`` (identity when empty)."""
    eye = np.eye(encoder[0].shape[0])
    below, above = [eye], [eye]
    for w in encoder[:-1]:
        below.append(w @ below[-1])
    for w in reversed(encoder[1:]):
        above.append(above[-1] @ w)
    return below, above[::-1]


def loss_and_grads(layers: list[np.ndarray], data: DiagonalData, method: str) -> tuple[float, list[np.ndarray]]:
    """Population loss (up to a parameter-free constant) and its gradients, predictor last.

    JEPA differentiates only the online branch: the target ``W̄ y`` is treated as a constant.
    """
    loss, grads, _ = _loss_grads_product(layers, data, method)
    return loss, grads


def _loss_grads_product(layers: list[np.ndarray], data: DiagonalData, method: str):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    *encoder, predictor = layers
    below, above = _products(encoder)
    product = above[0] @ encoder[0]  # W̄
    joint = predictor @ product  # V W̄
    # E[x xᵀ] = diag(σ²), E[y xᵀ] = diag(λ): right-multiplying by them scales columns
    target_map = product if method == "jepa" else np.eye(data.dim)
    grad_joint = joint * data.sigma2 - target_map * data.lam
    loss = 0.5 * np.sum(joint**2 * data.sigma2) - np.sum(joint * target_map * data.lam)
    grad_product = predictor.T @ grad_joint
    grads = [above[a].T @ grad_product @ below[a].T for a in range(len(encoder))]
    grads.append(grad_joint @ product.T)
    return float(loss), grads, product


@dataclass
class Trajectory:
    """Per-feature encoder gains ``‖W̄ e_i‖`` over gradient-flow time, and the final layers."""

    times: np.ndarray
    gains: np.ndarray  # (len(times), dim)
    losses: np.ndarray
    layers: list[np.ndarray]

    @property
    def final_gains(self) -> np.ndarray:
        return self.gains[-1]


def train(
    data: DiagonalData,
    method: str,
    depth: int,
    eps: float,
    lr: float,
    duration: float,
    rng: np.random.Generator | None = None,
    record_every: int = 1,
) -> Trajectory:
    """Full-batch gradient descent for ``duration`` units of time (``duration / lr`` steps) from ``balanced_init``."""
    if lr <= 0 or duration <= 0:
        raise ValueError(f"lr and duration must be positive, got lr={lr}, duration={duration}")
    layers = balanced_init(data.dim, depth, eps, rng)
    steps = int(round(duration / lr))
    times, gains, losses = [], [], []
    for step in range(steps + 1):
        loss, grads, product = _loss_grads_product(layers, data, method)
        if step % record_every == 0 or step == steps:
            times.append(step * lr)
            gains.append(np.linalg.norm(product, axis=0))  # column norms: how strongly each feature is encoded
            losses.append(loss)
        if step == steps:
            break
        layers = [w - lr * g for w, g in zip(layers, grads, strict=True)]
    return Trajectory(np.array(times), np.array(gains), np.array(losses), layers)
