"""SIGReg (LeJEPA, Balestriero & LeCun, arXiv 2511.08544): push embeddings towards an isotropic Gaussian.

Math. For embeddings z_1 … z_N in R^D draw M random unit directions a_1 … a_M and project, x_{n,m} = a_mᵀ z_n.
For each 1-D sample x_{·,m}, the Epps–Pulley statistic compares its empirical characteristic function
φ̂(t) = (1/N) Σ_n exp(i t x_n) with the one of N(0, 1), φ(t) = exp(−t²/2):

    EP_m = N · Σ_k w_k · |φ̂(t_k) − φ(t_k)|²,
    |φ̂(t) − φ(t)|² = (mean cos(t x) − exp(−t²/2))² + (mean sin(t x))²,

on knots t_k evenly spaced on [0, t_max] (17 on [0, 3] by default) with trapezoid weights times the window
exp(−t²/2). SIGReg = (1/M) Σ_m EP_m. By Cramér–Wold, every 1-D projection being N(0, 1) means z is N(0, I): a
collapsed or anisotropic batch scores high, a standard Gaussian one scores O(1). Under several processes the
empirical characteristic function is averaged over all of them (an all-reduce of the sums, with gradients)
before the squares, so the statistic is that of the global batch. The directions are redrawn every step from a
generator seeded by the step, so every process draws the same ones and a resumed run draws them again.
"""

import torch
import torch.distributed as dist
from torch import Tensor

CHUNK_ELEMENTS = 2**17  # rows of x per chunk × M: the recurrence's few (chunk, M) tensors stay in a core's cache


def _harmonics(angles: Tensor, count: int):
    """(cos kθ, sin kθ) for k = 1 … count, θ = `angles`, by the Chebyshev recurrence f_k = 2 cos θ · f_{k−1} −
    f_{k−2}: one cosine and one sine, then two multiply-adds per knot."""
    current = (angles.cos(), angles.sin())
    twice_cos, previous = 2 * current[0], (1.0, 0.0)
    yield current
    for _ in range(count - 1):
        previous, current = current, tuple((twice_cos * c).sub_(p) for c, p in zip(current, previous, strict=True))
        yield current


class _CharacteristicSums(torch.autograd.Function):
    """(Σ_n cos(t_k x_nm), Σ_n sin(t_k x_nm)) as (2, M, K) for x (N, M) on the knots t_k = k·h, k = 0 … K − 1.

    Evenly spaced knots make t_k x the k-th multiple of θ = h·x, so `_harmonics` gives every knot from one cosine
    and one sine; rows go in cache-sized chunks and nothing of size N·M·K is stored. The backward pass runs the
    recurrence again: ∂/∂x_nm = Σ_k t_k (g_sin,mk cos(t_k x_nm) − g_cos,mk sin(t_k x_nm)). In fp32 the recurrence's
    rounding error grows at most ~k²·ε (< 2e-5 at 17 knots). 5–6× faster than sine and cosine of every angle
    (forward + backward, (12000, 256) on 2 CPU threads). No double backward."""

    @staticmethod
    def forward(ctx, x: Tensor, spacing: float, num_knots: int) -> Tensor:
        ctx.save_for_backward(x)
        ctx.spacing, ctx.num_knots = spacing, num_knots
        sums = torch.zeros(2, x.shape[1], num_knots, device=x.device)
        sums[0, :, 0] = x.shape[0]
        for chunk in x.split(max(1, CHUNK_ELEMENTS // x.shape[1])):
            for k, (cos, sin) in enumerate(_harmonics(chunk * spacing, num_knots - 1), start=1):
                sums[0, :, k] += cos.sum(0)
                sums[1, :, k] += sin.sum(0)
        return sums

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        (x,) = ctx.saved_tensors
        knots = ctx.spacing * torch.arange(ctx.num_knots, device=grad.device)
        grad_cos, grad_sin = grad * knots
        result = torch.zeros_like(x)
        rows = max(1, CHUNK_ELEMENTS // x.shape[1])
        for chunk, out in zip(x.split(rows), result.split(rows), strict=True):
            for k, (cos, sin) in enumerate(_harmonics(chunk * ctx.spacing, ctx.num_knots - 1), start=1):
                out.addcmul_(cos, grad_sin[:, k]).addcmul_(sin, grad_cos[:, k], value=-1)
        return result, None, None


def epps_pulley(projections: Tensor, num_knots: int = 17, t_max: float = 3.0) -> Tensor:
    """Epps–Pulley statistic against N(0, 1) of each column of `projections` (N, M) → (M,)."""
    if projections.ndim != 2 or projections.shape[0] < 1:
        raise ValueError(f"projections must be (N, M) with N >= 1, got {tuple(projections.shape)}")
    x = projections.float()
    t = torch.linspace(0.0, t_max, num_knots, device=x.device)
    gaussian = torch.exp(-0.5 * t**2)
    trapezoid = torch.full_like(t, t_max / (num_knots - 1))
    trapezoid[[0, -1]] /= 2
    weights = trapezoid * gaussian
    sums = _CharacteristicSums.apply(x, t_max / (num_knots - 1), num_knots)  # (2, M, K)
    count = torch.tensor(float(x.shape[0]), device=x.device)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        from torch.distributed.nn.functional import all_reduce

        sums = all_reduce(sums)
        count = all_reduce(count)
    cos_mean, sin_mean = sums / count
    error = (cos_mean - gaussian) ** 2 + sin_mean**2
    return count * (error * weights).sum(-1)


def random_directions(dim: int, num_directions: int, step: int, device: torch.device | None = None) -> Tensor:
    """(dim, num_directions) unit columns, a pure function of `step`."""
    generator = torch.Generator().manual_seed(1_000_003 * int(step) + 17)
    directions = torch.randn(dim, num_directions, generator=generator)
    return (directions / directions.norm(dim=0, keepdim=True)).to(device)


def sigreg(embeddings: Tensor, step: int, num_directions: int = 256, num_knots: int = 17) -> Tensor:
    """SIGReg of `embeddings` (N, D) (or (..., D), flattened): mean Epps–Pulley statistic over random slices."""
    embeddings = embeddings.reshape(-1, embeddings.shape[-1])
    directions = random_directions(embeddings.shape[-1], num_directions, step, embeddings.device)
    return epps_pulley(embeddings.float() @ directions, num_knots).mean()
