"""Index-based masking: `apply_masks`, a generic multi-block sampler on N-D token grids, and the collator contract.

Masks are sets of token indices into the flattened (row-major) token grid. The context encoder sees only
`context_indices` (B, Kc); the predictor predicts the tokens at `target_indices` (B, T, Kt).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import default_collate


def apply_masks(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Gather tokens by index: x (B, N, D) with indices (B, K) → (B, K, D), or (B, T, K) → (B, T, K, D)."""
    if x.ndim != 3:
        raise ValueError(f"apply_masks expects tokens shaped (batch, tokens, dim), got {tuple(x.shape)}")
    if indices.ndim not in (2, 3) or indices.shape[0] != x.shape[0]:
        raise ValueError(
            f"indices must be (batch, K) or (batch, T, K) with batch {x.shape[0]}, got {tuple(indices.shape)}"
        )
    if indices.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"indices must be an integer tensor, got {indices.dtype}")
    # Checked on CPU only: on an accelerator the check would make the host wait for the device every step (the
    # gather kernel checks its indices there), and under torch.compile it would break the graph.
    checked = indices.device.type == "cpu" and not torch.compiler.is_compiling()
    if checked and indices.numel() and (indices.min() < 0 or indices.max() >= x.shape[1]):
        raise IndexError(
            f"mask indices span [{int(indices.min())}, {int(indices.max())}] but there are {x.shape[1]} tokens"
        )
    flat = indices.reshape(indices.shape[0], -1)
    gathered = torch.gather(x, 1, flat.long().unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    return gathered.reshape(*indices.shape, x.shape[-1])


@dataclass(frozen=True)
class BlockRule:
    """How to draw one kind of block: how many, what share of the grid each covers, and its aspect ratio.

    For 2-D grids `aspect_ratio` is height / width; for N-D grids it stretches axis 0 against axis 1 and
    the remaining axes get the geometric mean side. 1-D grids ignore it.
    """

    num_blocks: int
    scale: tuple[float, float]
    aspect_ratio: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self):
        low, high = self.scale
        if self.num_blocks < 1 or not 0 < low <= high <= 1:
            raise ValueError(f"invalid block rule {self}: need num_blocks >= 1 and 0 < scale_min <= scale_max <= 1")
        if not 0 < self.aspect_ratio[0] <= self.aspect_ratio[1]:
            raise ValueError(f"invalid aspect ratio range {self.aspect_ratio}")


class MultiBlockMaskSampler:
    """I-JEPA-style multi-block masks on any token grid, with every rule a parameter.

    Per batch: one target block shape and one context block shape are drawn (sizes shared by the batch).
    Per sample: `target.num_blocks` target blocks at uniform positions (every row and column reachable),
    then `context.num_blocks` context blocks whose union, minus the targets unless `allow_overlap`, must keep
    at least `min_keep` tokens; after `max_tries` failures one target constraint is dropped, as in the
    reference. Lengths are then equalised across the batch, by keeping the first indices (`"truncate"`,
    the reference behaviour) or a random subset (`"random"`).
    """

    def __init__(
        self,
        grid_shape: Sequence[int],
        target: BlockRule = BlockRule(4, (0.15, 0.2), (0.75, 1.5)),
        context: BlockRule = BlockRule(1, (0.85, 1.0), (1.0, 1.0)),
        min_keep: int = 10,
        allow_overlap: bool = False,
        max_tries: int = 20,
        equalize: str = "truncate",
    ):
        self.grid_shape = tuple(int(n) for n in grid_shape)
        self.num_tokens = math.prod(self.grid_shape)
        if not self.grid_shape or min(self.grid_shape) < 1:
            raise ValueError(f"grid shape must be positive, got {self.grid_shape}")
        if not 1 <= min_keep <= self.num_tokens:
            raise ValueError(f"min_keep={min_keep} must be between 1 and the {self.num_tokens} tokens of the grid")
        if equalize not in ("truncate", "random"):
            raise ValueError(f"equalize must be 'truncate' or 'random', got {equalize!r}")
        self.target, self.context = target, context
        self.min_keep, self.allow_overlap, self.max_tries, self.equalize = (
            min_keep,
            allow_overlap,
            max_tries,
            equalize,
        )

    def block_shape(self, rule: BlockRule, generator: torch.Generator) -> tuple[int, ...]:
        """Draw a block shape covering about scale × grid tokens."""
        u_scale, u_ratio = torch.rand(2, generator=generator).tolist()
        scale = rule.scale[0] + u_scale * (rule.scale[1] - rule.scale[0])
        ratio = rule.aspect_ratio[0] + u_ratio * (rule.aspect_ratio[1] - rule.aspect_ratio[0])
        keep = max(1, int(self.num_tokens * scale))
        if len(self.grid_shape) == 1:
            return (min(keep, self.grid_shape[0]),)
        sides = [keep ** (1 / len(self.grid_shape))] * len(self.grid_shape)
        sides[0] *= math.sqrt(ratio)
        sides[1] /= math.sqrt(ratio)
        return tuple(min(max(1, round(s)), n) for s, n in zip(sides, self.grid_shape, strict=True))

    def _block(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        mask = torch.zeros(self.grid_shape, dtype=torch.bool)
        ranges = zip(self.grid_shape, shape, strict=True)
        starts = [int(torch.randint(0, n - s + 1, (1,), generator=generator)) for n, s in ranges]
        mask[tuple(slice(a, a + s) for a, s in zip(starts, shape, strict=True))] = True
        return mask

    def _context_mask(self, shape, targets: list[torch.Tensor], generator) -> torch.Tensor:
        constraints = [] if self.allow_overlap else list(targets)
        tries = 0
        while True:
            mask = torch.zeros(self.grid_shape, dtype=torch.bool)
            for _ in range(self.context.num_blocks):
                mask |= self._block(shape, generator)
            for target in constraints:
                mask &= ~target
            if mask.sum() >= self.min_keep:
                return mask
            tries += 1
            if tries >= self.max_tries:
                if not constraints:
                    raise ValueError(
                        f"context blocks of shape {shape} cannot keep min_keep={self.min_keep} tokens on grid "
                        f"{self.grid_shape}; lower min_keep or raise the context scale"
                    )
                constraints.pop()
                tries = 0

    def _target_shape(self, generator) -> tuple[int, ...]:
        for _ in range(self.max_tries):
            shape = self.block_shape(self.target, generator)
            if math.prod(shape) >= self.min_keep:
                return shape
        raise ValueError(
            f"target blocks at scale {self.target.scale} of grid {self.grid_shape} keep fewer than "
            f"min_keep={self.min_keep} tokens; lower min_keep or raise the target scale"
        )

    def _equalize(self, index_sets: list[torch.Tensor], length: int, generator) -> torch.Tensor:
        if self.equalize == "truncate":
            return torch.stack([s[:length] for s in index_sets])
        picks = [s[torch.randperm(len(s), generator=generator)[:length].sort().values] for s in index_sets]
        return torch.stack(picks)

    def __call__(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (context_indices (B, Kc), target_indices (B, T, Kt)), sorted LongTensors."""
        target_shape = self._target_shape(generator)
        context_shape = self.block_shape(self.context, generator)
        contexts, targets = [], []
        for _ in range(batch_size):
            blocks = [self._block(target_shape, generator) for _ in range(self.target.num_blocks)]
            context = self._context_mask(context_shape, blocks, generator)
            targets.extend(b.flatten().nonzero().squeeze(1) for b in blocks)
            contexts.append(context.flatten().nonzero().squeeze(1))
        context_indices = self._equalize(contexts, min(len(c) for c in contexts), generator)
        target_indices = self._equalize(targets, min(len(t) for t in targets), generator)
        return context_indices, target_indices.reshape(batch_size, self.target.num_blocks, -1)


class MaskCollator:
    """The collator contract every domain implements.

    `collate_samples` turns a list of samples into a batch dict (it may run in DataLoader workers);
    `sample_masks(batch)` adds `context_indices` / `target_indices` with the collator's own seeded
    generator (the trainer calls it in the main process, so the generator state is exact on resume).
    `__call__` does both, for use as a plain `collate_fn`.
    """

    def __init__(self, seed: int = 0):
        self.generator = torch.Generator().manual_seed(seed)

    def collate_samples(self, samples: list) -> dict:
        if not samples:
            raise ValueError("cannot collate an empty list of samples")
        batch = default_collate(samples)
        return batch if isinstance(batch, dict) else {"inputs": batch}

    def sample_masks(self, batch: dict) -> dict:
        raise NotImplementedError

    def __call__(self, samples: list) -> dict:
        batch = self.collate_samples(samples)
        batch.update(self.sample_masks(batch))
        return batch

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def batch_size_of(batch: dict) -> int:
    """Leading dimension of the first tensor in a batch dict."""
    for value in batch.values():
        if isinstance(value, torch.Tensor):
            return value.shape[0]
    raise ValueError("the batch holds no tensor")


class MultiBlockMaskCollator(MaskCollator):
    """Stacks samples and draws multi-block masks from a `MultiBlockMaskSampler`."""

    def __init__(self, sampler: MultiBlockMaskSampler, seed: int = 0):
        super().__init__(seed)
        self.sampler = sampler

    def sample_masks(self, batch: dict) -> dict:
        context, target = self.sampler(batch_size_of(batch), self.generator)
        return {"context_indices": context, "target_indices": target}
