"""Multi-head self-attention on `torch.nn.functional.scaled_dot_product_attention`."""

import torch
import torch.nn.functional as F
from torch import nn


def plain_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask=None) -> torch.Tensor:
    """softmax(QKᵀ/√d)V written out; the reference path benchmarks compare SDPA against."""
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    return scores.softmax(dim=-1) @ v


class Attention(nn.Module):
    """Self-attention with a fused qkv projection.

    `attn_mask` follows SDPA: a bool tensor (True = attend) or an additive float mask, broadcastable
    to (B, heads, N, N). `use_sdpa=False` switches to `plain_attention` (for benchmarks and checks).
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, proj_bias: bool = True, attn_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by num_heads {num_heads}; pick a divisor of the width")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.attn_drop = attn_drop
        self.use_sdpa = True

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        batch, length, dim = x.shape
        qkv = self.qkv(x).reshape(batch, length, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if self.use_sdpa:
            dropout = self.attn_drop if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
        else:
            out = plain_attention(q, k, v, attn_mask)
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))
