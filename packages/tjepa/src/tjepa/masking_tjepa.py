"""T-JEPA feature-subset masking: one context subset, and target subsets drawn from the features left over.

Per batch, a context size n_c is drawn uniformly from the integers in [round(D·min_ctx), round(D·max_ctx)] and
a target size n_t from [round(D·min_trgt), round(D·max_trgt)], redrawn until n_c + n_t ≤ D (sizes are
shared by the batch, so no equalising is needed). Per row, the features are shuffled; the first n_c form
the context, and each of the `num_targets` target subsets is n_t features drawn from the remaining D − n_c
(targets never meet the context; they may overlap each other). Indices address feature tokens 0..D−1
only: the [REG] tokens are prefix tokens the encoder adds after masking, so they are never masked.
"""

from collections.abc import Sequence

import torch
from jepa_core.masks import MaskCollator, batch_size_of
from jepa_core.overrides import ConfigFieldError

from .configuration_tjepa import TabularJepaConfig

MODEL_INPUTS = ("numerical_features", "categorical_features")


def share_to_count_range(num_features: int, share: Sequence[float]) -> tuple[int, int]:
    """Integer size range [round(D·min), round(D·max)], at least 1 feature."""
    low = max(1, round(num_features * share[0]))
    return low, max(low, round(num_features * share[1]))


class TabularJepaMaskCollator(MaskCollator):
    """Stacks processed rows (model inputs only) and draws T-JEPA's context / target feature subsets.

    Returns `context_indices` (B, n_c) and `target_indices` (B, num_targets, n_t), sorted LongTensors.
    """

    def __init__(
        self,
        num_features: int,
        context_share: Sequence[float] = (0.136, 0.368),
        target_share: Sequence[float] = (0.156, 0.622),
        num_targets: int = 4,
        seed: int = 0,
    ):
        super().__init__(seed)
        self.num_features, self.num_targets = num_features, num_targets
        self.context_sizes = share_to_count_range(num_features, context_share)
        self.target_sizes = share_to_count_range(num_features, target_share)
        if num_targets < 1:
            raise ValueError(f"num_targets must be >= 1, got {num_targets}")
        if self.context_sizes[0] + self.target_sizes[0] > num_features:
            low = round((num_features - self.context_sizes[0]) / num_features, 3)
            raise ConfigFieldError(
                f"with {num_features} features the smallest context ({self.context_sizes[0]}) and target "
                f"({self.target_sizes[0]}) subsets do not fit together; lower context_share or target_share",
                "target_share",
                [low, max(low, float(target_share[1]))],
            )

    @classmethod
    def from_config(cls, config: TabularJepaConfig, seed: int = 0) -> "TabularJepaMaskCollator":
        return cls(config.num_features, config.context_share, config.target_share, config.num_target_subsets, seed)

    def collate_samples(self, samples: list) -> dict:
        batch = super().collate_samples(samples)
        return {name: batch[name] for name in MODEL_INPUTS if name in batch}

    def _draw(self, sizes: tuple[int, int]) -> int:
        return int(torch.randint(sizes[0], sizes[1] + 1, (1,), generator=self.generator))

    def sample_sizes(self) -> tuple[int, int]:
        """(n_c, n_t) for one batch, redrawn until they fit in D together."""
        while True:
            context_size, target_size = self._draw(self.context_sizes), self._draw(self.target_sizes)
            if context_size + target_size <= self.num_features:
                return context_size, target_size

    def sample_masks(self, batch: dict) -> dict:
        batch_size = batch_size_of(batch)
        context_size, target_size = self.sample_sizes()
        order = torch.rand(batch_size, self.num_features, generator=self.generator).argsort(dim=1)
        context = order[:, :context_size].sort(dim=1).values
        remaining = order[:, context_size:]
        picks = torch.rand(batch_size, self.num_targets, remaining.shape[1], generator=self.generator)
        picks = picks.argsort(dim=2)[..., :target_size]
        targets = torch.gather(remaining[:, None].expand(-1, self.num_targets, -1), 2, picks)
        return {"context_indices": context, "target_indices": targets.sort(dim=2).values}
