"""Shared transformer building blocks."""

from .attention import Attention, plain_attention, prefers_plain
from .block import Block, DropPath, stochastic_depth_rates
from .mlp import Mlp
from .patch_embed import PatchEmbed1d, PatchEmbed2d
from .pos_embed import sincos_1d, sincos_2d, sincos_from_coordinates, sincos_nd

__all__ = [
    "Attention",
    "Block",
    "DropPath",
    "Mlp",
    "PatchEmbed1d",
    "PatchEmbed2d",
    "plain_attention",
    "prefers_plain",
    "sincos_1d",
    "sincos_2d",
    "sincos_from_coordinates",
    "sincos_nd",
    "stochastic_depth_rates",
]
