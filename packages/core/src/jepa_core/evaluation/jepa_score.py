"""JEPA-SCORE: per-sample log-density proxy from the encoder Jacobian (arXiv 2510.05949)."""

from collections.abc import Callable

import torch
from torch import Tensor


def jepa_score(
    encoder_fn: Callable[[Tensor], Tensor],
    inputs: Tensor,
    eps: float = 1e-6,
    chunk_size: int = 8,
    output_chunk_size: int | None = None,
) -> Tensor:
    """Per sample ``Σ_k log max(σ_k(J), eps)`` with ``J = ∂f(x)/∂x`` of shape ``(D, numel(x))``.

    Meaning: a JEPA's anti-collapse term pushes embeddings towards an isotropic Gaussian, so by change of
    variables ``log p(x) ≈ Σ_k log σ_k(J_f(x)) + const``: higher = more likely under the training data
    (usable for curation, density ranking, outlier detection). Scores compare samples of the same encoder
    and input shape only; the paper reports them insensitive to ``eps``.

    ``encoder_fn`` maps a batch ``(B, *S)`` to pooled embeddings ``(B, D)`` and must treat samples
    independently (eval mode: no train-mode BatchNorm, no dropout), because the Jacobian of the batch sum is
    taken. Cost per sample: one Jacobian of ``D × numel(x)`` entries (``D·numel·4`` bytes in float32, e.g.
    ViT-B at 224²: 768 × 150,528 ≈ 460 MB) plus its SVD, and ``D`` vector-Jacobian products (backward
    passes). ``chunk_size`` samples are processed together and ``output_chunk_size`` caps how many of the
    ``D`` backward passes are vectorised at once (``None``: all), trading speed for memory. Returns ``(B,)``.
    """
    if inputs.ndim < 2:
        raise ValueError(f"inputs must be batched (B, *S), got shape {tuple(inputs.shape)}")
    if not inputs.is_floating_point():
        raise ValueError(f"inputs must be floating point to differentiate, got {inputs.dtype}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    jac = torch.func.jacrev(lambda x: encoder_fn(x).sum(0), chunk_size=output_chunk_size)
    scores = []
    with torch.no_grad():  # torch.func still differentiates w.r.t. inputs; no graph to parameters
        for chunk in inputs.detach().split(chunk_size):
            J = jac(chunk)  # (D, C, *S)
            if J.ndim != chunk.ndim + 1:
                raise ValueError("encoder_fn must return pooled (B, D) embeddings")
            J = J.flatten(2).transpose(0, 1)  # (C, D, numel)
            if J.dtype not in (torch.float32, torch.float64):
                J = J.float()
            scores.append(torch.linalg.svdvals(J).clamp_min(eps).log().sum(1))
    return torch.cat(scores)
