"""ECG-JEPA's time-only masking: one keep ratio per batch, masked runs of at least `min_block_size` patches.

Leads are fused in each token, so a 1-D mask over the time patches masks all leads at once. Per batch a keep ratio
r ~ U(keep_ratio_min, keep_ratio_max) is drawn once and every sample keeps exactly ceil(r · N) patches (equal
lengths, no truncation). Per sample, masked blocks are placed until N − keep patches are masked: each block has a
length drawn uniformly in [min_block_size, still-to-mask] (capped at the interval's length) and lies inside one
unmasked interval chosen with probability proportional to its length; a remainder too short for a block of its own is
grown from the edges of existing masked runs. So every maximal masked run has at least `min_block_size` patches.
The context is the kept patches; the targets are all masked patches. Blocks rarely reach the sequence ends, so the
first and last patches are masked less often than the middle ones (as in the reference sampler).

Kim et al.'s strategies (`sehunfromdaegu/ECG_JEPA`, `MaskTransformer._make_block_mask` / `_make_rand_mask`) draw
ONE time mask per batch, shared by every sample and every lead: `"block"` masks the union of `num_blocks` blocks,
each of ⌊P·U(block_scale)⌋ patches at a uniform start (every patch reachable; the reference draws the start from
[0, P − n − 1], so it never masks the last patch), `"random"` masks ⌊P·U(mask_ratio)⌋ patches drawn without
replacement. With per-lead tokens (`num_token_leads`) each time patch t becomes the tokens l·P + t of every lead l
(lead-major order, as the per-lead model lays its tokens out).
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


def check_mask_sizes(
    strategy: str, num_patches: int, num_blocks: int, block_scale: tuple[float, float], mask_ratio: tuple[float, float]
) -> None:
    """Raise a clear error when a `"block"` / `"random"` mask over `num_patches` could mask nothing or everything."""
    if strategy == "block":
        smallest, largest = int(num_patches * block_scale[0]), num_blocks * int(num_patches * block_scale[1])
        if num_blocks < 1 or smallest < 1 or largest >= num_patches:
            raise ValueError(
                f"{num_blocks} mask block(s) of {block_scale} × {num_patches} time patches can mask nothing or every "
                "patch; use longer inputs, fewer blocks or another block scale"
            )
    elif strategy == "random":
        fewest, most = int(num_patches * mask_ratio[0]), int(num_patches * mask_ratio[1])
        if fewest < 1 or most >= num_patches:
            raise ValueError(f"masking {mask_ratio} of {num_patches} time patches masks nothing or every patch; use "
                             "longer inputs or another ratio")  # fmt: skip


class EcgMaskCollator(MaskCollator):
    """Stacks `input_values` (B, leads, samples) and draws time masks over their patches (`strategy`, see above).

    Random draws come from the collator's torch generator (saved on resume); the `"runs"` sampler runs on a NumPy
    generator seeded from it per batch. `num_token_leads=None`: one token per time patch (fused leads);
    an int c: c tokens per time patch, lead-major (the per-lead variant).
    """

    def __init__(
        self,
        patch_size: int = 25,
        keep_ratio: tuple[float, float] = (0.15, 0.25),
        min_block_size: int = 10,
        seed: int = 0,
        *,
        strategy: str = "runs",
        num_blocks: int = 4,
        block_scale: tuple[float, float] = (0.175, 0.225),
        mask_ratio: tuple[float, float] = (0.6, 0.7),
        num_token_leads: int | None = None,
    ):
        super().__init__(seed)
        low, high = keep_ratio
        if not 0 < low <= high < 1:
            raise ValueError(f"keep_ratio must satisfy 0 < min <= max < 1, got {keep_ratio}")
        if min_block_size < 1:
            raise ValueError(f"min_block_size must be >= 1, got {min_block_size}")
        if strategy not in ("runs", "block", "random"):
            raise ValueError(f"strategy must be 'runs', 'block' or 'random', got {strategy!r}")
        for name, (a, b) in [("block_scale", block_scale), ("mask_ratio", mask_ratio)]:
            if not 0 < a <= b < 1:
                raise ValueError(f"{name} must satisfy 0 < min <= max < 1, got {(a, b)}")
        if num_token_leads is not None and num_token_leads < 1:
            raise ValueError(f"num_token_leads must be None (fused leads) or >= 1, got {num_token_leads}")
        self.patch_size, self.keep_ratio, self.min_block_size = patch_size, (low, high), min_block_size
        self.strategy, self.num_blocks, self.num_token_leads = strategy, num_blocks, num_token_leads
        self.block_scale, self.mask_ratio = block_scale, mask_ratio

    @classmethod
    def from_config(cls, config, seed: int = 0) -> "EcgMaskCollator":
        keep = (config.keep_ratio_min, config.keep_ratio_max)
        return cls(
            config.patch_size, keep, config.min_block_size, seed, strategy=config.mask_strategy,
            num_blocks=config.num_mask_blocks, block_scale=(config.block_mask_scale_min, config.block_mask_scale_max),
            mask_ratio=(config.random_mask_ratio_min, config.random_mask_ratio_max),
            num_token_leads=config.num_token_leads,
        )  # fmt: skip

    def collate_samples(self, samples: list) -> dict:
        if not samples:
            raise ValueError("cannot collate an empty list of samples")
        if not all(isinstance(s, dict) and "input_values" in s for s in samples):
            raise ValueError("ECG samples must be dicts with an 'input_values' tensor (leads, samples)")
        return {"input_values": default_collate([s["input_values"] for s in samples])}

    def _uniform(self, bounds: tuple[float, float]) -> float:
        return bounds[0] + (bounds[1] - bounds[0]) * float(torch.rand(1, generator=self.generator))

    def _run_masks(self, num_patches: int, batch_size: int) -> np.ndarray:
        num_keep = min(max(1, math.ceil(self._uniform(self.keep_ratio) * num_patches - 1e-9)), num_patches - 1)
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=self.generator)))
        return np.stack([sample_time_mask(num_patches, num_keep, self.min_block_size, rng) for _ in range(batch_size)])

    def _shared_mask(self, num_patches: int) -> np.ndarray:
        """Kim et al.'s one mask for the whole batch: a union of blocks or random patches."""
        check_mask_sizes(self.strategy, num_patches, self.num_blocks, self.block_scale, self.mask_ratio)
        masked = torch.zeros(num_patches, dtype=torch.bool)
        if self.strategy == "block":
            for _ in range(self.num_blocks):
                length = int(num_patches * self._uniform(self.block_scale))
                start = int(torch.randint(num_patches - length + 1, (1,), generator=self.generator))
                masked[start : start + length] = True
        else:
            count = int(num_patches * self._uniform(self.mask_ratio))
            masked[torch.randperm(num_patches, generator=self.generator)[:count]] = True
        return masked.numpy()

    def sample_masks(self, batch: dict) -> dict:
        num_patches = batch["input_values"].shape[-1] // self.patch_size
        batch_size = batch_size_of(batch)
        if self.strategy == "runs":
            masks = self._run_masks(num_patches, batch_size)
        else:
            masks = np.tile(self._shared_mask(num_patches), (batch_size, 1))
        num_keep = int((~masks[0]).sum())
        order = np.argsort(masks, axis=1, kind="stable")  # kept patches first, each part in increasing order
        order = torch.from_numpy(order).long()
        context, target = order[:, :num_keep], order[:, num_keep:]
        if self.num_token_leads is not None:  # time patch t → tokens l·P + t of every lead, lead-major
            offsets = num_patches * torch.arange(self.num_token_leads)
            context, target = [(idx[:, None, :] + offsets[None, :, None]).flatten(1) for idx in (context, target)]
        return {"context_indices": context, "target_indices": target}
