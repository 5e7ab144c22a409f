"""I-JEPA's multi-block masking, every rule taken from the config.

Per batch one target-block shape and one context-block shape are drawn; per image 4 target blocks
(scale 0.15–0.2, aspect ratio 0.75–1.5) and one context block (scale 0.85–1.0, aspect 1) from which the
targets are removed, keeping at least `min_keep` tokens; lengths are equalised across the batch. Unlike the
reference sampler, blocks reach the last row and column and the context block may cover the whole grid.
"""

from jepa_core.masks import BlockRule, MultiBlockMaskCollator, MultiBlockMaskSampler

from .configuration_ijepa import ImageJepaConfig


def build_mask_sampler(config: ImageJepaConfig) -> MultiBlockMaskSampler:
    """The multi-block sampler on the config's patch grid."""
    return MultiBlockMaskSampler(
        config.grid_size,
        target=BlockRule(config.num_target_blocks, tuple(config.target_scale), tuple(config.target_aspect_ratio)),
        context=BlockRule(config.num_context_blocks, tuple(config.context_scale), tuple(config.context_aspect_ratio)),
        min_keep=config.min_keep,
        allow_overlap=config.allow_overlap,
        equalize=config.mask_equalize,
    )


class ImageJepaMaskCollator(MultiBlockMaskCollator):
    """Stacks `{"pixel_values", "labels"?}` samples and adds `context_indices` (B, Kc), `target_indices` (B, 4, Kt)."""

    def __init__(self, config: ImageJepaConfig, seed: int = 0):
        super().__init__(build_mask_sampler(config), seed)
