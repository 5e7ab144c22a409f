"""I-JEPA encoder (a ViT without CLS token on fixed 2-D sin-cos positions) and its pretraining model."""

from pathlib import Path

import torch
from jepa_core.layers import PatchEmbed2d, sincos_2d
from jepa_core.modeling_utils import (
    JepaForPreTraining,
    JepaPreTrainedModel,
    JepaPreTrainingOutput,
    build_encoder,
    check_model_type,
    rescale_residual_branches,
)
from transformers.modeling_outputs import BaseModelOutput

from .configuration_ijepa import ImageJepaConfig


class _CheckedLoading:
    """`from_pretrained` of a local folder first checks that it holds a `jepa_ijepa` checkpoint."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        if Path(str(pretrained_model_name_or_path)).is_dir() and not kwargs.get("subfolder"):
            check_model_type(pretrained_model_name_or_path, ImageJepaConfig.model_type)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)


class ImageJepaModel(_CheckedLoading, JepaPreTrainedModel):
    """ViT encoder: Conv2d patches + fixed sin-cos positions → (optionally) keep `indices` → blocks → LayerNorm.

    `forward(pixel_values (B, C, H, W), indices (B, K) or None)` returns `last_hidden_state` (B, K or N, D).
    The position table is a persistent buffer, so imported (e.g. learned) positions load as they are.
    """

    config: ImageJepaConfig
    base_model_prefix = "ijepa"
    main_input_name = "pixel_values"

    def __init__(self, config: ImageJepaConfig):
        super().__init__(config)
        self.patch_embed = PatchEmbed2d(config.num_channels, config.hidden_size, config.patch_size)
        self.register_buffer("pos_embed", sincos_2d(*config.grid_size, config.hidden_size)[None], persistent=True)
        self.encoder = build_encoder(config, config.num_register_tokens)
        self.post_init()
        rescale_residual_branches(self.encoder)

    def forward(self, pixel_values: torch.Tensor, indices: torch.Tensor | None = None) -> BaseModelOutput:
        size = self.config.image_size
        if pixel_values.ndim == 4 and tuple(pixel_values.shape[-2:]) != (size, size):
            raise ValueError(
                f"images are {tuple(pixel_values.shape[-2:])} pixels but the model was built for {size}×{size}; "
                "resize them with ImageJepaImageProcessor (or build a config with this image_size)"
            )
        weight = self.patch_embed.proj.weight
        tokens = self.patch_embed(pixel_values.to(weight.dtype)) + self.pos_embed.to(weight.dtype)
        return BaseModelOutput(last_hidden_state=self.encoder(tokens, indices))


class ImageJepaForPreTraining(_CheckedLoading, JepaForPreTraining):
    """Context encoder → predictor (sin-cos positions at the predictor width) vs the EMA target encoder.

    Loss: smooth-L1 on layer-normed target-encoder outputs (`loss_type="l2"` for the paper's L2).
    `AutoModel.from_pretrained` of a saved run gives the target encoder, which the paper evaluates.
    """

    config: ImageJepaConfig
    encoder_class = ImageJepaModel

    def after_init(self) -> None:
        """I-JEPA's `fix_init_weight` on the predictor (the encoders rescale themselves when built)."""
        rescale_residual_branches(self.predictor)

    def predictor_positions(self) -> torch.Tensor:
        return sincos_2d(*self.config.grid_size, self.config.pred_hidden_size)

    def forward(
        self,
        pixel_values: torch.Tensor,
        context_indices: torch.Tensor,
        target_indices: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> JepaPreTrainingOutput:
        """`labels` are accepted (and ignored) so that labelled batches can be fed as they are."""
        return super().forward(context_indices, target_indices, pixel_values=pixel_values)
