"""Token encoder: a pre-norm transformer that processes only the tokens it is given."""

import torch
from torch import nn

from .layers import Block, stochastic_depth_rates
from .masks import apply_masks


class TransformerEncoder(nn.Module):
    """Embedded tokens (positions already added) → keep `indices` → prefix tokens → blocks → LayerNorm.

    `num_prefix_tokens` learned tokens (registers, [REG]) are prepended after masking, so they are never
    masked; the output is (B, P + K, D) with the prefix first.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        bias: bool = True,
        drop_path_rate: float = 0.0,
        norm_eps: float = 1e-6,
        num_prefix_tokens: int = 0,
    ):
        super().__init__()
        self.num_prefix_tokens = num_prefix_tokens
        self.prefix_tokens = nn.Parameter(torch.zeros(1, num_prefix_tokens, dim)) if num_prefix_tokens else None
        rates = stochastic_depth_rates(depth, drop_path_rate)
        self.blocks = nn.ModuleList(Block(dim, num_heads, mlp_ratio, qkv_bias, bias, rate, norm_eps) for rate in rates)
        self.norm = nn.LayerNorm(dim, eps=norm_eps, bias=bias)

    def forward(
        self,
        tokens: torch.Tensor,
        indices: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if indices is not None:
            tokens = apply_masks(tokens, indices)
        if self.prefix_tokens is not None:
            tokens = torch.cat([self.prefix_tokens.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        for block in self.blocks:
            tokens = block(tokens, attn_mask)
        return self.norm(tokens)
