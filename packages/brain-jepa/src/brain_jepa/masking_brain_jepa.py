"""Brain-JEPA spatiotemporal masking (paper §3.2, Table 6), on an (ROIs × time patches) token grid of any size.

Per batch, the sizes are drawn once: the observation block (`observation_roi_scale` of the ROIs, a random
subset, × a contiguous `observation_time_scale` share of the time patches) and the Cross-ROI block α
(`cross_roi_roi_scale` of the ROIs × `cross_roi_time_scale` of the time patches). Per sample:

1. observation: random ROIs × a time window at a uniform start;
2. α (Cross-ROI): random ROIs (they may overlap the observation: "overlapped sampling") × a window inside the
   observation window; the α ROIs then leave the observation at every time;
3. per time edge (right, then left): `int(W · U(cross_time_time_scale))` columns among the outer
   `cross_time_edge_ratio` share of the time patches (the reference's fixed {7, 8, 9} / {0, 1, 2} of 10),
   and one ratio `u ~ U(cross_time_roi_scale)`: β (Cross-Time) = `u` of the observed ROIs, γ (Double-Cross) =
   `u` of the unobserved ROIs, at those columns; the columns leave the observation for every ROI.

The context is what remains of the observation; the target is α, β/γ right, β/γ left concatenated. Lengths are
equalised across the batch by truncation (the reference: the tail, i.e. left-edge targets, goes first) or by a
random subset (`mask_equalize="random"`), then sorted. Departures from the reference code, on purpose: β is drawn
from the observed ROIs as the paper defines it (the code draws it from observed ∩ α), and window starts range
over every valid position (the code never lets a window touch the right end of its span).
"""

from dataclasses import dataclass, field

import torch
from jepa_core.masks import MaskCollator, batch_size_of

from .configuration_brain_jepa import BrainJepaConfig


@dataclass
class Regions:
    """One sample's regions on an (H ROIs × W time patches) grid."""

    observation_rois: torch.Tensor
    observation_window: tuple[int, int]
    cross_roi_rois: torch.Tensor
    cross_roi_window: tuple[int, int]
    edges: list[dict] = field(default_factory=list)  # per side: columns, cross_time_rois, double_cross_rois

    def context_mask(self, grid: tuple[int, int]) -> torch.Tensor:
        mask = torch.zeros(grid, dtype=torch.bool)
        start, stop = self.observation_window
        mask[self.observation_rois, start:stop] = True
        mask[self.cross_roi_rois] = False
        for edge in self.edges:
            mask[:, edge["columns"]] = False
        return mask

    def target_indices(self, grid: tuple[int, int]) -> torch.Tensor:
        """Flat ROI-major indices of α, then β/γ per side, each region in increasing order."""
        parts = [_indices(grid, self.cross_roi_rois, torch.arange(*self.cross_roi_window))]
        for edge in self.edges:
            rois = torch.cat([edge["cross_time_rois"], edge["double_cross_rois"]])
            parts.append(_indices(grid, rois, edge["columns"]))
        return torch.cat(parts)


def _indices(grid: tuple[int, int], rois: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    mask = torch.zeros(grid, dtype=torch.bool)
    mask[rois.unsqueeze(1), columns.unsqueeze(0)] = True
    return mask.flatten().nonzero().squeeze(1)


def _uniform(bounds, generator: torch.Generator) -> float:
    low, high = bounds
    return low + float(torch.rand(1, generator=generator)) * (high - low)


def _subset(pool: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    return pool[torch.randperm(len(pool), generator=generator)[:size]].sort().values


class BrainJepaMaskCollator(MaskCollator):
    """Stacks `time_series` samples and draws Brain-JEPA's observation / α / β / γ masks.

    Returns `context_indices` (B, Kc) and `target_indices` (B, 1, Kt): the target regions are concatenated
    into one set per sample, as in the paper.
    """

    def __init__(self, config: BrainJepaConfig, seed: int = 0):
        super().__init__(seed)
        self.config = config
        self.grid = config.grid_shape
        num_rois, num_times = self.grid
        if num_rois < 3 or num_times < 2:
            raise ValueError(
                f"spatiotemporal masking needs at least 3 ROIs and 2 time patches, got a {self.grid} grid; "
                "use longer crops (num_frames) or a smaller patch_size"
            )
        self.edge_width = max(1, round(config.cross_time_edge_ratio * num_times))

    def batch_sizes(self, generator: torch.Generator) -> dict[str, int]:
        """Region sizes shared by a batch: observation and α, in ROIs and time patches."""
        (num_rois, num_times), c = self.grid, self.config
        cross_roi_rois = int(num_rois * _uniform(c.cross_roi_roi_scale, generator))
        cross_roi_time = int(num_times * _uniform(c.cross_roi_time_scale, generator))
        observation_rois = int(num_rois * _uniform(c.observation_roi_scale, generator))
        observation_time = int(num_times * _uniform(c.observation_time_scale, generator))
        observation_time = min(max(observation_time, 1), num_times - 1)
        return {
            "observation_rois": min(max(observation_rois, 2), num_rois - 1),
            "observation_time": observation_time,
            "cross_roi_rois": min(max(cross_roi_rois, 1), num_rois - 1),
            "cross_roi_time": min(max(cross_roi_time, 1), observation_time),
        }

    def sample_regions(self, sizes: dict[str, int], generator: torch.Generator) -> Regions:
        """One sample's observation, α, β and γ regions."""
        (num_rois, num_times), c = self.grid, self.config
        all_rois = torch.arange(num_rois)
        observation_rois = _subset(all_rois, sizes["observation_rois"], generator)
        start = int(torch.randint(0, num_times - sizes["observation_time"] + 1, (1,), generator=generator))
        window = (start, start + sizes["observation_time"])
        cross_roi_rois = _subset(all_rois, sizes["cross_roi_rois"], generator)
        offset = int(torch.randint(0, window[1] - window[0] - sizes["cross_roi_time"] + 1, (1,), generator=generator))
        regions = Regions(
            observation_rois, window, cross_roi_rois, (start + offset, start + offset + sizes["cross_roi_time"])
        )
        observed = torch.zeros(num_rois, dtype=torch.bool)
        observed[observation_rois] = True
        observed[cross_roi_rois] = False
        edges = {
            "right": torch.arange(num_times - self.edge_width, num_times),
            "left": torch.arange(self.edge_width),
        }
        for side in ("right", "left"):
            num_columns = min(int(num_times * _uniform(c.cross_time_time_scale, generator)), self.edge_width)
            share = _uniform(c.cross_time_roi_scale, generator)
            regions.edges.append(
                {
                    "side": side,
                    "columns": _subset(edges[side], num_columns, generator),
                    "cross_time_rois": _subset(all_rois[observed], int(observed.sum() * share), generator),
                    "double_cross_rois": _subset(all_rois[~observed], int((~observed).sum() * share), generator),
                }
            )
        return regions

    def _equalize(self, index_sets: list[torch.Tensor], length: int) -> torch.Tensor:
        if self.config.mask_equalize == "truncate":
            picks = [s[:length] for s in index_sets]
        else:
            picks = [s[torch.randperm(len(s), generator=self.generator)[:length].sort().values] for s in index_sets]
        return torch.stack([p.sort().values for p in picks])

    def sample_masks(self, batch: dict) -> dict:
        sizes = self.batch_sizes(self.generator)
        contexts, targets = [], []
        for _ in range(batch_size_of(batch)):
            for _ in range(20):
                regions = self.sample_regions(sizes, self.generator)
                context = regions.context_mask(self.grid).flatten().nonzero().squeeze(1)
                target = regions.target_indices(self.grid)
                if len(context) >= self.config.min_keep and len(target) > 0:
                    break
            else:
                raise ValueError(
                    f"no mask with at least min_keep={self.config.min_keep} context tokens and one target on the "
                    f"{self.grid} grid in 20 draws; lower min_keep or use more ROIs / time patches"
                )
            contexts.append(context)
            targets.append(target)
        context_indices = self._equalize(contexts, min(len(c) for c in contexts))
        target_indices = self._equalize(targets, min(len(t) for t in targets))
        return {"context_indices": context_indices, "target_indices": target_indices.unsqueeze(1)}
