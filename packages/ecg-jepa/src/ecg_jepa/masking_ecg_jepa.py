"""ECG-JEPA's time-only masking: one keep ratio per batch, masked runs of at least `min_block_size` patches.

Leads are fused in each token, so a 1-D mask over the time patches masks all leads at once. Per batch a keep ratio
r ~ U(keep_ratio_min, keep_ratio_max) is drawn once and every sample keeps exactly ceil(r · N) patches (equal
lengths, no truncation). Per sample, masked blocks are placed until N − keep patches are masked: each block has a
length drawn uniformly in [min_block_size, still-to-mask] (capped at the interval's length) and lies inside one
unmasked interval chosen with probability proportional to its length; a remainder too short for a block of its own is
grown from the edges of existing masked runs. So every maximal masked run has at least `min_block_size` patches.
The context is the kept patches; the targets are all masked patches. Blocks rarely reach the sequence ends, so the
first and last patches are masked less often than the middle ones (as in the reference sampler).
"""

import math

import numpy as np
import torch
from jepa_core.masks import MaskCollator, batch_size_of
from torch.utils.data import default_collate


def _grow_runs(masked: np.ndarray, count: int, rng: np.random.Generator) -> None:
    """Mask `count` more patches, each next to an existing masked run (anywhere if there is none yet)."""
    for _ in range(count):
        beside_masked = np.r_[False, masked[:-1]] | np.r_[masked[1:], False]
        frontier = np.flatnonzero(beside_masked & ~masked)
        if len(frontier) == 0:
            frontier = np.flatnonzero(~masked)
        masked[frontier[rng.integers(len(frontier))]] = True


def sample_time_mask(num_patches: int, num_keep: int, min_block_size: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean (num_patches,) mask, True = masked, with exactly num_patches − num_keep masked patches."""
    if not 0 < num_keep < num_patches:
        raise ValueError(f"num_keep={num_keep} must lie strictly between 0 and the {num_patches} patches")
    masked = np.zeros(num_patches, dtype=bool)
    free = [(0, num_patches)]  # unmasked intervals as (start, length)
    remaining = num_patches - num_keep
    while remaining >= min_block_size:
        candidates = [interval for interval in free if interval[1] >= min_block_size]
        if not candidates:  # only short gaps are left: grow the existing runs instead
            break
        lengths = np.array([length for _, length in candidates], dtype=float)
        start, length = candidates[rng.choice(len(candidates), p=lengths / lengths.sum())]
        block = min(int(rng.integers(min_block_size, remaining + 1)), length)
        offset = start + int(rng.integers(length - block + 1))
        masked[offset : offset + block] = True
        free.remove((start, length))
        free += [(a, n) for a, n in [(start, offset - start), (offset + block, start + length - offset - block)] if n]
        remaining -= block
    _grow_runs(masked, remaining, rng)
    return masked


class EcgMaskCollator(MaskCollator):
    """Stacks `input_values` (B, leads, samples) and draws the paper's time masks over their patches.

    The keep ratio comes from the collator's torch generator (saved on resume); each batch's masks come from a
    NumPy generator seeded from it.
    """

    def __init__(
        self,
        patch_size: int = 25,
        keep_ratio: tuple[float, float] = (0.15, 0.25),
        min_block_size: int = 10,
        seed: int = 0,
    ):
        super().__init__(seed)
        low, high = keep_ratio
        if not 0 < low <= high < 1:
            raise ValueError(f"keep_ratio must satisfy 0 < min <= max < 1, got {keep_ratio}")
        if min_block_size < 1:
            raise ValueError(f"min_block_size must be >= 1, got {min_block_size}")
        self.patch_size, self.keep_ratio, self.min_block_size = patch_size, (low, high), min_block_size

    @classmethod
    def from_config(cls, config, seed: int = 0) -> "EcgMaskCollator":
        keep = (config.keep_ratio_min, config.keep_ratio_max)
        return cls(config.patch_size, keep, config.min_block_size, seed)

    def collate_samples(self, samples: list) -> dict:
        if not samples:
            raise ValueError("cannot collate an empty list of samples")
        if not all(isinstance(s, dict) and "input_values" in s for s in samples):
            raise ValueError("ECG samples must be dicts with an 'input_values' tensor (leads, samples)")
        return {"input_values": default_collate([s["input_values"] for s in samples])}

    def sample_masks(self, batch: dict) -> dict:
        num_patches = batch["input_values"].shape[-1] // self.patch_size
        low, high = self.keep_ratio
        keep_ratio = low + (high - low) * float(torch.rand(1, generator=self.generator))
        num_keep = min(max(1, math.ceil(keep_ratio * num_patches - 1e-9)), num_patches - 1)
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=self.generator)))
        masks = np.stack([sample_time_mask(num_patches, num_keep, self.min_block_size, rng)
                          for _ in range(batch_size_of(batch))])  # fmt: skip
        order = np.argsort(masks, axis=1, kind="stable")  # kept patches first, each part in increasing order
        order = torch.from_numpy(order).long()
        return {"context_indices": order[:, :num_keep], "target_indices": order[:, num_keep:]}
