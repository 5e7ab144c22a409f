"""Non-overlapping patch embeddings for 1-D signals and 2-D images."""

import torch
from torch import nn


class PatchEmbed1d(nn.Module):
    """(B, C, L) → (B, L // patch, D) with a strided Conv1d."""

    def __init__(self, in_channels: int, dim: int, patch_size: int, bias: bool = True):
        super().__init__()
        self.in_channels, self.patch_size = in_channels, patch_size
        self.proj = nn.Conv1d(in_channels, dim, patch_size, stride=patch_size, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected a (batch, {self.in_channels} channels, length) tensor, got shape {tuple(x.shape)}"
            )
        if x.shape[-1] % self.patch_size:
            raise ValueError(
                f"length {x.shape[-1]} is not a multiple of the patch size {self.patch_size}; crop or pad it"
            )
        return self.proj(x).transpose(1, 2)


class PatchEmbed2d(nn.Module):
    """(B, C, H, W) → (B, (H/p)·(W/p), D) row-major, with a strided Conv2d."""

    def __init__(self, in_channels: int, dim: int, patch_size: int, bias: bool = True):
        super().__init__()
        self.in_channels, self.patch_size = in_channels, patch_size
        self.proj = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected a (batch, {self.in_channels} channels, height, width) tensor, got shape {tuple(x.shape)}"
            )
        if x.shape[-1] % self.patch_size or x.shape[-2] % self.patch_size:
            raise ValueError(
                f"image size {tuple(x.shape[-2:])} is not divisible by the patch size {self.patch_size}; "
                "resize or crop it to a multiple"
            )
        return self.proj(x).flatten(2).transpose(1, 2)
