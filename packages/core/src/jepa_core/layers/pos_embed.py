"""Fixed sine-cosine positional embeddings (Transformer / MAE convention).

For a coordinate p and width d: [sin(p·ω_0..ω_{d/2-1}), cos(p·ω_0..ω_{d/2-1})], ω_i = 1 / 10000^(2i/d).
Several coordinates split the width into equal parts, one per coordinate, in the order given.
"""

import torch


def sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """(N,) positions → (N, dim)."""
    if dim % 2:
        raise ValueError(f"sin-cos width must be even, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    angles = positions.to(torch.float64)[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def sincos_from_coordinates(coordinates: torch.Tensor, dim: int) -> torch.Tensor:
    """(N, k) coordinates (any real values) → (N, dim); each coordinate gets dim/k channels."""
    if coordinates.ndim != 2:
        raise ValueError(f"coordinates must be (N, k), got shape {tuple(coordinates.shape)}")
    k = coordinates.shape[1]
    if dim % (2 * k):
        raise ValueError(f"width {dim} must be divisible by 2 × {k} coordinates")
    return torch.cat([sincos_1d(coordinates[:, j], dim // k) for j in range(k)], dim=1)


def sincos_nd(grid_shape: tuple[int, ...], dim: int) -> torch.Tensor:
    """Row-major grid of shape (n_0, …, n_{k-1}) → (∏n, dim).

    Coordinates are given last axis first, so a 2-D (H, W) grid encodes the column in the first half and
    the row in the second half, which is exactly MAE's / I-JEPA's `get_2d_sincos_pos_embed`.
    """
    axes = [torch.arange(n, dtype=torch.float64) for n in grid_shape]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(grid_shape))
    return sincos_from_coordinates(grid.flip(-1), dim)


def sincos_2d(height: int, width: int, dim: int) -> torch.Tensor:
    """(H·W, dim) for a row-major H × W patch grid."""
    return sincos_nd((height, width), dim)
