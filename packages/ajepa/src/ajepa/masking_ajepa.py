"""A-JEPA's curriculum masking: I-JEPA multi-block masks that give way to time-frequency-aware masks.

On the (time, frequency) patch grid, a time-frequency target is a whole time stripe (a run of time patches
across every frequency) or a whole frequency band (a run of frequency patches across every time step), so the
predictor cannot fill it in from the locally correlated neighbours that make random blocks easy.

Schedule (our reading of the paper, which gives no formula): each batch uses time-frequency masks with
probability p(step), otherwise multi-block masks. p is 0 until `curriculum_start · T`, then rises to
`curriculum_final_prob` at `curriculum_end · T` (T = `max_steps`), linearly, along a half cosine, or as a
single step at the midpoint; it stays there afterwards. The choice is per batch so that every sample of a
batch has the same number of tokens. The step is the collator's own counter of drawn batches, saved in
`state_dict`, so that a resumed run continues the curriculum where it stopped.
"""

import math

import torch
from jepa_core.masks import BlockRule, MaskCollator, MultiBlockMaskSampler, batch_size_of

from .configuration_ajepa import AudioJepaConfig


class TimeFrequencyMaskSampler(MultiBlockMaskSampler):
    """Multi-block sampling whose target blocks are full time stripes or full frequency bands.

    Per batch, the axis is drawn (time stripes with probability `time_stripe_prob`) and the stripe width
    from the axis' scale range (a share of that axis); positions are drawn per sample. The context block
    and the removal of targets from it follow the I-JEPA rules of the parent class.
    """

    def __init__(
        self,
        grid_shape: tuple[int, int],
        num_targets: int,
        time_scale: tuple[float, float],
        frequency_scale: tuple[float, float],
        time_stripe_prob: float,
        context: BlockRule,
        min_keep: int,
        allow_overlap: bool = False,
    ):
        super().__init__(grid_shape, BlockRule(num_targets, tuple(time_scale)), context, min_keep, allow_overlap)
        self.time_scale, self.frequency_scale = tuple(time_scale), tuple(frequency_scale)
        self.time_stripe_prob = time_stripe_prob

    def _target_shape(self, generator: torch.Generator) -> tuple[int, int]:
        u_axis, u_scale = torch.rand(2, generator=generator).tolist()
        time_patches, frequency_patches = self.grid_shape
        if u_axis < self.time_stripe_prob:
            low, high = self.time_scale
            width = min(time_patches, max(1, round((low + u_scale * (high - low)) * time_patches)))
            return width, frequency_patches
        low, high = self.frequency_scale
        width = min(frequency_patches, max(1, round((low + u_scale * (high - low)) * frequency_patches)))
        return time_patches, width


def curriculum_probability(step: int, total_steps: int, config: AudioJepaConfig) -> float:
    """Probability that batch number `step` uses time-frequency masks (see the module docstring)."""
    start, end = config.curriculum_start * total_steps, config.curriculum_end * total_steps
    if step < start:
        return 0.0
    progress = 1.0 if step >= end else (step - start) / (end - start)
    if config.curriculum_schedule == "cosine":
        progress = 0.5 * (1 - math.cos(math.pi * progress))
    elif config.curriculum_schedule == "step":
        progress = float(progress >= 0.5)
    return config.curriculum_final_prob * progress


class AudioJepaMaskCollator(MaskCollator):
    """Stacks samples and draws curriculum masks; counts the batches it has drawn (one per optimizer step,
    or `draws_per_step` with gradient accumulation). Aspect ratios of the multi-block rules are scaled by
    the grid's time / frequency ratio, so that on a square grid they are I-JEPA's."""

    def __init__(self, config: AudioJepaConfig, seed: int = 0, draws_per_step: int = 1):
        super().__init__(seed)
        self.config, self.draws_per_step, self.draws = config, draws_per_step, 0
        grid_aspect = config.grid_size[0] / config.grid_size[1]
        context = BlockRule(config.num_context_blocks, tuple(config.context_scale), (grid_aspect, grid_aspect))
        target_aspect = tuple(ratio * grid_aspect for ratio in config.target_aspect_ratio)
        self.block_sampler = MultiBlockMaskSampler(
            config.grid_size,
            BlockRule(config.num_target_blocks, tuple(config.target_scale), target_aspect),
            context,
            config.min_keep,
            config.allow_overlap,
        )
        self.time_frequency_sampler = TimeFrequencyMaskSampler(
            config.grid_size,
            config.num_target_blocks,
            config.time_stripe_scale,
            config.frequency_band_scale,
            config.time_stripe_prob,
            context,
            config.min_keep,
            config.allow_overlap,
        )

    @property
    def step(self) -> int:
        return self.draws // self.draws_per_step

    def time_frequency_probability(self) -> float:
        return curriculum_probability(self.step, self.config.max_steps, self.config)

    def sample_masks(self, batch: dict) -> dict:
        use_time_frequency = torch.rand(1, generator=self.generator).item() < self.time_frequency_probability()
        sampler = self.time_frequency_sampler if use_time_frequency else self.block_sampler
        context, target = sampler(batch_size_of(batch), self.generator)
        self.draws += 1
        return {"context_indices": context, "target_indices": target}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "draws": self.draws}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.draws = int(state["draws"])
