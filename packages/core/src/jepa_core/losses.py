"""JEPA regression losses as pure functions of (predictions, targets)."""

import torch
import torch.nn.functional as F


def normalize_targets(targets: torch.Tensor) -> torch.Tensor:
    """Layer norm over the feature axis without affine parameters (I-JEPA)."""
    return F.layer_norm(targets, targets.shape[-1:])


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().mean()


def l2_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).pow(2).mean()


def smooth_l1_loss(pred: torch.Tensor, target: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    return F.smooth_l1_loss(pred, target, beta=beta)


def cosine_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 − cosine similarity per token, averaged."""
    return (1 - F.cosine_similarity(pred, target, dim=-1)).mean()


LOSSES = {"l1": l1_loss, "l2": l2_loss, "mse": l2_loss, "smooth_l1": smooth_l1_loss, "cosine": cosine_loss}


def jepa_loss(pred: torch.Tensor, target: torch.Tensor, loss_type: str = "smooth_l1", normalize: bool = False):
    """Regression loss between predicted and target latents, computed in float32."""
    if loss_type not in LOSSES:
        raise ValueError(f"unknown loss {loss_type!r}; choose one of {sorted(LOSSES)}")
    if pred.shape != target.shape:
        raise ValueError(f"predictions {tuple(pred.shape)} and targets {tuple(target.shape)} differ in shape")
    target = target.float()
    if normalize:
        target = normalize_targets(target)
    return LOSSES[loss_type](pred.float(), target)
