"""ECG-JEPA encoder and pretraining model: fused-lead time patches, 1-D sin-cos positions, one register token."""

import math

import torch
from jepa_core.encoder import TransformerEncoder
from jepa_core.layers import PatchEmbed1d, sincos_1d
from jepa_core.modeling_utils import JepaForPreTraining, JepaPreTrainedModel, build_encoder
from jepa_core.predictor import JepaPredictor
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput

from .configuration_ecg_jepa import EcgJepaConfig


def interleaved_sincos(num_positions: int, dim: int) -> torch.Tensor:
    """(num_positions, dim) table with sin/cos interleaved per frequency, as the reference's `get_1d_pos_embed`."""
    table = sincos_1d(torch.arange(num_positions), dim)
    sin, cos = table[:, : dim // 2], table[:, dim // 2 :]
    return torch.stack([sin, cos], dim=-1).flatten(1)


class EcgJepaPreTrainedModel(JepaPreTrainedModel):
    config: EcgJepaConfig
    base_model_prefix = "ecg_jepa"
    main_input_name = "input_values"

    @torch.no_grad()
    def _init_weights(self, module) -> None:
        super()._init_weights(module)
        if isinstance(module, TransformerEncoder | JepaPredictor):
            # residual output projections get std / √(2·depth) (children are initialised before parents)
            std = self.config.initializer_range / math.sqrt(2 * len(module.blocks))
            for block in module.blocks:
                init.trunc_normal_(block.attn.proj.weight, std=std)
                init.trunc_normal_(block.mlp.fc2.weight, std=std)


class EcgJepaModel(EcgJepaPreTrainedModel):
    """(B, leads, samples) at 500 Hz → (B, 1 + samples / patch_size, hidden_size), the register token first.

    Each 25-sample patch of all 12 leads becomes one token (bias-free Conv1d); fixed sin-cos positions are
    sliced to the input length, so any multiple of `patch_size` up to `signal_length` works (e.g. 2.5-s crops).
    `indices` (B, K) keeps only those patch tokens (the context view in pretraining).
    """

    def __init__(self, config: EcgJepaConfig):
        super().__init__(config)
        config.validate_ecg()
        self.patch_embed = PatchEmbed1d(config.num_leads, config.hidden_size, config.patch_size, bias=False)
        table = interleaved_sincos(config.num_patches, config.hidden_size)
        self.register_buffer("pos_embed", table, persistent=True)
        self.encoder = build_encoder(config, config.num_register_tokens)
        self.post_init()

    def forward(self, input_values: torch.Tensor, indices: torch.Tensor | None = None, **kwargs) -> BaseModelOutput:
        length = input_values.shape[-1]
        if input_values.ndim == 3 and length > self.config.signal_length:
            raise ValueError(
                f"input has {length} samples but the model covers at most {self.config.signal_length} "
                f"({self.config.signal_length / self.config.sampling_rate:g} s at {self.config.sampling_rate} Hz); "
                "crop it, e.g. with ecg_jepa.evaluation.strided_crops"
            )
        tokens = self.patch_embed(input_values)
        tokens = tokens + self.pos_embed[: tokens.shape[1]].to(tokens.dtype)
        return BaseModelOutput(last_hidden_state=self.encoder(tokens, indices))


class EcgJepaForPreTraining(JepaForPreTraining, EcgJepaPreTrainedModel):
    """Context encoder on the kept patches → predictor at every masked patch vs the EMA target encoder (L1)."""

    config: EcgJepaConfig
    encoder_class = EcgJepaModel

    def predictor_positions(self) -> torch.Tensor:
        return interleaved_sincos(self.config.num_patches, self.config.pred_hidden_size)
