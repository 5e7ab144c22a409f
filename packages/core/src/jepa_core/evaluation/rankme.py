"""RankMe: effective rank of an embedding matrix (Garrido et al., ICML 2023, arXiv 2210.02885)."""

import torch
from torch import Tensor


def rankme(embeddings: Tensor, eps: float = 1e-7, center: bool = False) -> float:
    """Effective rank ``exp(H(p))``, ``p_k = σ_k / Σ_j σ_j + eps`` over the singular values σ_k of Z.

    ``embeddings`` (Z) is an ``(N, D)`` matrix, not centred (as in the paper); the value lies in
    ``[1, min(N, D)]`` and needs ``N >> D`` to be meaningful. Computed in float64. An all-zero matrix
    (total collapse) returns 0.0. Gather embeddings across processes before calling. ``center=True``
    subtracts the mean embedding first, so that a shared offset (e.g. from positional embeddings) does not
    hide the spread of the representations; the training monitor uses it.
    """
    z = torch.as_tensor(embeddings).detach()
    if z.ndim != 2:
        raise ValueError(f"rankme expects a 2-D (N, D) matrix, got shape {tuple(z.shape)}")
    if z.shape[0] < 2 or z.shape[1] < 1:
        raise ValueError(f"rankme needs at least 2 rows and 1 column, got shape {tuple(z.shape)}")
    z = z.to(torch.float64)
    if not torch.isfinite(z).all():
        raise ValueError("rankme got non-finite values (NaN or inf) in the embeddings")
    if center:
        z = z - z.mean(dim=0)
    s = torch.linalg.svdvals(z)
    total = s.sum()
    if total == 0:
        return 0.0
    p = s / total + eps
    return float(torch.exp(-(p * p.log()).sum()))
