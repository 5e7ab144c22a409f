"""ECG-JEPA encoder, pretraining model and attentive-pooling classifier: fused-lead time patches, 1-D sin-cos
positions, one register token."""

import math

import torch
import torch.nn.functional as F
from jepa_core.encoder import TransformerEncoder
from jepa_core.layers import PatchEmbed1d, sincos_1d
from jepa_core.modeling_utils import JepaForPreTraining, JepaPreTrainedModel, build_encoder
from jepa_core.predictor import JepaPredictor
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, SequenceClassifierOutput

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
        elif isinstance(module, AttentivePooler):
            init.trunc_normal_(module.query_token, std=self.config.initializer_range)


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


class AttentivePooler(nn.Module):
    """The reference's classification head: one learned query cross-attends over all tokens (register included),
    and the attention output projection maps straight to the classes (no MLP, no norm)."""

    def __init__(self, dim: int, num_heads: int, num_outputs: int, qkv_bias: bool = False, bias: bool = False):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.query_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, num_outputs, bias=bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, D) → (B, num_outputs)."""
        batch, length, dim = tokens.shape
        head_dim = dim // self.num_heads
        query = self.q(self.query_token).reshape(1, 1, self.num_heads, head_dim).transpose(1, 2)
        key, value = self.kv(tokens).reshape(batch, length, 2, self.num_heads, head_dim).permute(2, 0, 3, 1, 4)
        pooled = F.scaled_dot_product_attention(query.expand(batch, -1, -1, -1), key, value)
        return self.proj(pooled.reshape(batch, dim))


class EcgJepaForSequenceClassification(EcgJepaPreTrainedModel):
    """Encoder + `AttentivePooler` → `config.num_labels` multi-label logits (BCE with `labels`), as the paper's
    linear-probe and fine-tuning head.

    `input_values` (B, leads, samples) gives one prediction per crop; (B, crops, leads, samples) averages the logits
    of each record's crops (the paper's evaluation on 7 strided 2.5-s crops, see `evaluation.strided_crops`).
    Load a pretrained encoder with `AutoModelForSequenceClassification.from_pretrained(folder, num_labels=C)`.
    """

    def __init__(self, config: EcgJepaConfig):
        super().__init__(config)
        self.ecg_jepa = EcgJepaModel(config)
        self.pooler = AttentivePooler(
            config.hidden_size, config.num_attention_heads, config.num_labels, config.qkv_bias, config.use_bias
        )
        self.post_init()

    def forward(
        self, input_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs
    ) -> SequenceClassifierOutput:
        crops = input_values.ndim == 4
        flat = input_values.flatten(0, 1) if crops else input_values
        logits = self.pooler(self.ecg_jepa(flat).last_hidden_state)
        if crops:
            logits = logits.unflatten(0, input_values.shape[:2]).mean(dim=1)
        loss = None
        if labels is not None:
            if labels.shape != logits.shape:
                raise ValueError(f"labels have shape {tuple(labels.shape)}; expected multi-hot {tuple(logits.shape)}")
            loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        return SequenceClassifierOutput(loss=loss, logits=logits)
