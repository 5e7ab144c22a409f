"""Multi-head self-attention on `torch.nn.functional.scaled_dot_product_attention`."""

import torch
import torch.nn.functional as F
from torch import nn


def plain_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask=None, dropout_p: float = 0.0
) -> torch.Tensor:
    """softmax(QKᵀ/√d)V written out. torch's softmax kernels compute in fp32 for bf16/fp16 inputs, so the weights
    are kept in the input precision (casting the scores up and the weights back costs ~30 % of the attention)."""
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    weights = F.dropout(scores.softmax(dim=-1), dropout_p, training=dropout_p > 0)
    return weights.to(v.dtype) @ v


def prefers_plain(q: torch.Tensor) -> bool:
    """True for bf16/fp16 on CPU, where torch's SDPA kernels are slower than `plain_attention` at ViT sizes
    (the attention alone ~3×; a whole ViT-Tiny pretraining step 1.36×, benchmarks/core_attention.py)."""
    return q.device.type == "cpu" and q.dtype in (torch.bfloat16, torch.float16)


class Attention(nn.Module):
    """Self-attention with a fused qkv projection.

    `attn_mask` follows SDPA: a bool tensor (True = attend) or an additive float mask, broadcastable
    to (B, heads, N, N). `backend`: "sdpa" (fused kernels), "plain" (`plain_attention`) or "auto" (the
    default: SDPA, except reduced precision on CPU, see `prefers_plain`).
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, proj_bias: bool = True, attn_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by num_heads {num_heads}; pick a divisor of the width")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.attn_drop = attn_drop
        self.backend = "auto"

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        batch, length, dim = x.shape
        qkv = self.qkv(x).reshape(batch, length, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        dropout = self.attn_drop if self.training else 0.0
        if self.backend == "plain" or (self.backend == "auto" and prefers_plain(q)):
            out = plain_attention(q, k, v, attn_mask, dropout)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))
