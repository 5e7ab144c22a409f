"""Narrow transformer predictor: context tokens + mask tokens at target positions → predicted target latents."""

import torch
from torch import nn

from .layers import Block, stochastic_depth_rates
from .masks import apply_masks


def gather_positions(pos_embed: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Positional embeddings (N, D) or (B, N, D) at indices (B, K) or (B, T, K)."""
    if pos_embed.ndim == 2:
        return pos_embed[indices]
    return apply_masks(pos_embed, indices)


class JepaPredictor(nn.Module):
    """I-JEPA predictor, generalised.

    The context (B, P + Kc, D) is projected to the predictor width, the positions of its Kc tokens are added
    (the P prefix tokens get none), and for each of the T target blocks the shared mask token plus the target
    positions is appended; the context is repeated per target block, so the effective batch is B·T.
    Optional `condition` tokens (B, C, Dp) (e.g. an instrument class) sit between context and mask tokens.
    Returns (B, T, Kt, D), or (B, Kt, D) when `target_indices` is (B, Kt).
    """

    def __init__(
        self,
        embed_dim: int,
        pred_dim: int,
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
        self.embed = nn.Linear(embed_dim, pred_dim, bias=bias)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, pred_dim))
        rates = stochastic_depth_rates(depth, drop_path_rate)
        self.blocks = nn.ModuleList(
            Block(pred_dim, num_heads, mlp_ratio, qkv_bias, bias, rate, norm_eps) for rate in rates
        )
        self.norm = nn.LayerNorm(pred_dim, eps=norm_eps, bias=bias)
        self.proj = nn.Linear(pred_dim, embed_dim, bias=bias)

    def forward(
        self,
        context: torch.Tensor,
        context_indices: torch.Tensor,
        target_indices: torch.Tensor,
        pos_embed: torch.Tensor,
        condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        single_target = target_indices.ndim == 2
        if single_target:
            target_indices = target_indices.unsqueeze(1)
        batch, num_targets, target_len = target_indices.shape
        expected = context_indices.shape[1] + self.num_prefix_tokens
        if context.shape[1] != expected:
            raise ValueError(
                f"context has {context.shape[1]} tokens but {context_indices.shape[1]} indices + "
                f"{self.num_prefix_tokens} prefix tokens = {expected}"
            )
        x = self.embed(context)
        prefix, x = x[:, : self.num_prefix_tokens], x[:, self.num_prefix_tokens :]
        x = x + gather_positions(pos_embed, context_indices).to(x.dtype)
        parts = [prefix, x] if condition is None else [prefix, x, condition]
        x = torch.cat(parts, dim=1).repeat_interleave(num_targets, dim=0)
        mask_tokens = self.mask_token + gather_positions(pos_embed, target_indices).to(x.dtype)
        x = torch.cat([x, mask_tokens.reshape(batch * num_targets, target_len, -1)], dim=1)
        for block in self.blocks:
            x = block(x)
        x = self.proj(self.norm(x[:, -target_len:]))
        x = x.reshape(batch, num_targets, target_len, -1)
        return x[:, 0] if single_target else x
