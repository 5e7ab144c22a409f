"""Pre-norm transformer block with stochastic depth."""

import torch
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from .attention import Attention
from .mlp import Mlp


class DropPath(nn.Module):
    """Drops the whole residual branch per sample with probability `drop_prob` (stochastic depth)."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        if keep == 0.0:
            return torch.zeros_like(x)
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Block(GradientCheckpointingLayer):
    """x + attn(norm(x)), then x + mlp(norm(x)); checkpointable through transformers."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        bias: bool = True,
        drop_path: float = 0.0,
        norm_eps: float = 1e-6,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps, bias=bias)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, proj_bias=bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps, bias=bias)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), bias=bias)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), attn_mask))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def stochastic_depth_rates(depth: int, drop_path_rate: float) -> list[float]:
    """Linearly increasing drop-path rates over the blocks, as in ViT/DeiT."""
    return [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
