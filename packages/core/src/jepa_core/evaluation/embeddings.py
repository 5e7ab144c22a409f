"""Frozen-encoder feature extraction for probes and diagnostics."""

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

POOLS = ("mean", "prefix", "none")


def pool_tokens(hidden: Tensor, pool: str = "mean", num_prefix_tokens: int = 0) -> Tensor:
    """Pool ``(B, T, D)`` token states to ``(B, D)``.

    ``"mean"`` averages the tokens after the first ``num_prefix_tokens`` (CLS/register tokens),
    ``"prefix"`` averages the first ``num_prefix_tokens`` tokens, ``"none"`` expects ``(B, D)`` already.
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    if pool == "none":
        if hidden.ndim != 2:
            raise ValueError(f"pool='none' expects (B, D) embeddings, got shape {tuple(hidden.shape)}")
        return hidden
    if hidden.ndim != 3:
        raise ValueError(f"pool={pool!r} expects (B, T, D) token states, got shape {tuple(hidden.shape)}")
    if num_prefix_tokens < 0:
        raise ValueError(f"num_prefix_tokens must be >= 0, got {num_prefix_tokens}")
    if pool == "prefix":
        if not 1 <= num_prefix_tokens <= hidden.shape[1]:
            raise ValueError(f"pool='prefix' needs 1 <= num_prefix_tokens <= {hidden.shape[1]}")
        return hidden[:, :num_prefix_tokens].mean(1)
    if num_prefix_tokens >= hidden.shape[1]:
        raise ValueError(f"pool='mean' has no tokens left after {num_prefix_tokens} prefix tokens")
    return hidden[:, num_prefix_tokens:].mean(1)


def _to(value: Any, device: torch.device) -> Any:
    return value.to(device) if isinstance(value, Tensor) else value


@torch.no_grad()
def extract_embeddings(
    encoder: nn.Module,
    batches: Iterable[dict],
    input_keys: Sequence[str] | None = None,
    label_key: str = "labels",
    pool: str = "mean",
    num_prefix_tokens: int = 0,
    device: str | torch.device | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Run ``encoder`` frozen (eval mode, no grad) over ``batches`` and return pooled ``(X, y)`` on CPU.

    Each batch dict is fed as ``encoder(**{k: batch[k] for k in input_keys})``; with ``input_keys=None``
    every key except ``label_key`` is passed. The output's ``last_hidden_state`` is used when present,
    else the output itself, then pooled with :func:`pool_tokens`. ``X`` is float32; ``y`` is ``None`` when
    no batch has ``label_key``. Inputs move to ``device`` (default: the encoder's parameter device); the
    encoder itself is not moved. Its train/eval mode is restored afterwards.
    """
    if device is None:
        device = next((p.device for p in encoder.parameters()), torch.device("cpu"))
    device = torch.device(device)
    was_training = encoder.training
    encoder.eval()
    feats: list[Tensor] = []
    labels: list[Tensor] = []
    try:
        for batch in batches:
            keys = input_keys if input_keys is not None else [k for k in batch if k != label_key]
            missing = [k for k in keys if k not in batch]
            if missing:
                raise KeyError(f"batch has no key(s) {missing}; available: {sorted(batch)}")
            out = encoder(**{k: _to(batch[k], device) for k in keys})
            hidden = getattr(out, "last_hidden_state", out)
            if not isinstance(hidden, Tensor):
                raise TypeError(f"encoder output has no last_hidden_state and is not a Tensor: {type(out)}")
            feats.append(pool_tokens(hidden, pool, num_prefix_tokens).float().cpu())
            if label_key in batch:
                labels.append(torch.as_tensor(batch[label_key]).cpu())
    finally:
        encoder.train(was_training)
    if not feats:
        raise ValueError("extract_embeddings got no batches")
    if labels and len(labels) != len(feats):
        raise ValueError(f"only {len(labels)} of {len(feats)} batches have the label key {label_key!r}")
    return torch.cat(feats), (torch.cat(labels) if labels else None)
