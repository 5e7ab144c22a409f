"""ECG-JEPA encoders, pretraining models and attentive-pooling classifiers, two architectures:

- `EcgJepaModel` (Weimann & Conrad, `EcgJepaConfig`): fused-lead time patches, 1-D sin-cos positions, one register
  token; `EcgJepaForPreTraining` with the core predictor.
- `EcgJepaPerLeadModel` (Kim et al., `EcgJepaPerLeadConfig`): per-lead patches, 2-D sin-cos positions added before
  every block, cross-pattern attention (CroPA); `EcgJepaPerLeadForPreTraining` with a per-lead predictor.

They share the input checks, the weight init and the classifier head through `EcgJepaPreTrainedBase` and
`_EcgSequenceClassifier`."""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from jepa_core.encoder import TransformerEncoder
from jepa_core.layers import Block, PatchEmbed1d, sincos_1d, sincos_2d, stochastic_depth_rates
from jepa_core.losses import jepa_loss
from jepa_core.masks import apply_masks
from jepa_core.modeling_utils import JepaForPreTraining, JepaPreTrainedModel, JepaPreTrainingOutput, build_encoder
from jepa_core.predictor import JepaPredictor
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, SequenceClassifierOutput

from .configuration_ecg_jepa import EcgConfigBase, EcgJepaConfig, EcgJepaPerLeadConfig


def interleaved_sincos(num_positions: int, dim: int) -> torch.Tensor:
    """(num_positions, dim) table with sin/cos interleaved per frequency, as the reference's `get_1d_pos_embed`."""
    table = sincos_1d(torch.arange(num_positions), dim)
    sin, cos = table[:, : dim // 2], table[:, dim // 2 :]
    return torch.stack([sin, cos], dim=-1).flatten(1)


def cross_pattern_mask(token_ids: torch.Tensor, num_time_patches: int) -> torch.Tensor:
    """CroPA: per-lead token ids (B, K) = lead·P + time → bool (B, 1, K, K), True where query and key share a lead
    or a time patch (the only pairs that may attend to each other)."""
    lead, time = token_ids // num_time_patches, token_ids % num_time_patches
    same_lead = lead[:, :, None] == lead[:, None, :]
    same_time = time[:, :, None] == time[:, None, :]
    return (same_lead | same_time).unsqueeze(1)


def lead_major_times(indices: torch.Tensor, num_leads: int, num_time_patches: int) -> torch.Tensor:
    """Per-lead token ids (B, c·K), lead-major with the same K time patches for every lead → time ids (B, K)."""
    if indices.ndim != 2 or indices.shape[1] % num_leads:
        raise ValueError(f"per-lead indices must be (batch, {num_leads} leads × K), got {tuple(indices.shape)}")
    grid = indices.reshape(indices.shape[0], num_leads, -1)
    times = grid[:, 0]
    offsets = num_time_patches * torch.arange(num_leads, device=indices.device)
    if times.min() < 0 or times.max() >= num_time_patches or not torch.equal(grid, times[:, None] + offsets[:, None]):
        raise ValueError(
            "the per-lead predictor needs a time-only mask: the same time patches for every lead, lead-major "
            "(token lead·P + time); build the batch with EcgMaskCollator.from_config(config)"
        )
    return times


class PerLeadPredictor(nn.Module):
    """Kim et al.'s predictor: every lead is its own sequence over time (B·c sequences, full attention), context
    tokens then mask tokens, 1-D sin-cos over time added before every block; returns (B, c·Kt, D) lead-major."""

    def __init__(self, config: EcgJepaPerLeadConfig):
        super().__init__()
        width, bias = config.pred_hidden_size, config.use_bias
        self.embed = nn.Linear(config.hidden_size, width, bias=bias)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        rates = stochastic_depth_rates(config.pred_num_hidden_layers, config.drop_path_rate)
        self.blocks = nn.ModuleList(
            Block(width, config.pred_num_attention_heads, config.pred_mlp_ratio, config.qkv_bias, bias, rate,
                  config.layer_norm_eps) for rate in rates
        )  # fmt: skip
        self.norm = nn.LayerNorm(width, eps=config.layer_norm_eps, bias=bias)
        self.proj = nn.Linear(width, config.hidden_size, bias=bias)

    def forward(
        self,
        context: torch.Tensor,
        context_indices: torch.Tensor,
        target_indices: torch.Tensor,
        pos_embed: torch.Tensor,
        num_leads: int,
        num_time_patches: int,
    ) -> torch.Tensor:
        context_times = lead_major_times(context_indices, num_leads, num_time_patches)
        target_times = lead_major_times(target_indices, num_leads, num_time_patches)
        batch, num_context = context_times.shape
        x = self.embed(context).reshape(batch * num_leads, num_context, -1)
        mask_tokens = self.mask_token.expand(x.shape[0], target_times.shape[1], -1).to(x.dtype)
        x = torch.cat([x, mask_tokens], dim=1)
        times = torch.cat([context_times, target_times], dim=1)
        positions = pos_embed[times].to(x.dtype).repeat_interleave(num_leads, dim=0)
        for block in self.blocks:
            x = block(x + positions)
        x = self.proj(self.norm(x[:, num_context:]))
        return x.reshape(batch, -1, x.shape[-1])


def check_input_length(config: EcgConfigBase, input_values: torch.Tensor) -> None:
    """Raise a clear error for an input longer than the positional table covers."""
    length = input_values.shape[-1]
    if input_values.ndim == 3 and length > config.signal_length:
        raise ValueError(
            f"input has {length} samples but the model covers at most {config.signal_length} "
            f"({config.signal_length / config.sampling_rate:g} s at {config.sampling_rate} Hz); "
            "crop it, e.g. with ecg_jepa.evaluation.strided_crops"
        )


class EcgJepaPreTrainedBase(JepaPreTrainedModel):
    """What both ECG architectures share: the input name, the classifier's attribute name, the weight init.

    Residual output projections get std / √(2·`residual_depth(layer, depth)`) (children are initialised before
    parents): the whole depth for Weimann & Conrad, the layer number for Kim et al. (I-JEPA's `fix_init_weight`).
    """

    base_model_prefix = "ecg_jepa"
    main_input_name = "input_values"

    def __init__(self, config: EcgConfigBase, *args, **kwargs):
        if not isinstance(config, self.config_class):
            raise ValueError(
                f"{type(self).__name__} takes an {self.config_class.__name__}, got {type(config).__name__}; build "
                "the model of a config with AutoModel.from_config(config) (or AutoModelForPreTraining)"
            )
        super().__init__(config, *args, **kwargs)

    @staticmethod
    def residual_depth(layer: int, depth: int) -> int:
        return depth

    @torch.no_grad()
    def _init_weights(self, module) -> None:
        super()._init_weights(module)
        if isinstance(module, PerLeadPredictor):
            init.trunc_normal_(module.mask_token, std=self.config.initializer_range)
        if isinstance(module, TransformerEncoder | JepaPredictor | PerLeadPredictor):
            self._init_residual_projections(module.blocks)
        elif isinstance(module, EcgJepaPerLeadModel):
            # transformers skips modules without parameters of their own: a register-free encoder is one of them
            self._init_residual_projections(module.encoder.blocks)
        elif isinstance(module, AttentivePooler):
            init.trunc_normal_(module.query_token, std=self.config.initializer_range)

    def _init_residual_projections(self, blocks: nn.ModuleList) -> None:
        for layer, block in enumerate(blocks, start=1):
            std = self.config.initializer_range / math.sqrt(2 * self.residual_depth(layer, len(blocks)))
            init.trunc_normal_(block.attn.proj.weight, std=std)
            init.trunc_normal_(block.mlp.fc2.weight, std=std)


class EcgJepaPreTrainedModel(EcgJepaPreTrainedBase):
    config: EcgJepaConfig


class EcgJepaPerLeadPreTrainedModel(EcgJepaPreTrainedBase):
    config: EcgJepaPerLeadConfig

    @staticmethod
    def residual_depth(layer: int, depth: int) -> int:
        return layer


class EcgJepaModel(EcgJepaPreTrainedModel):
    """(B, leads, samples) at 500 Hz → (B, 1 + samples / patch_size, hidden_size), the register token first.

    Each 25-sample patch of all 12 leads becomes one token (bias-free Conv1d); fixed sin-cos positions are
    sliced to the input length, so any multiple of `patch_size` up to `signal_length` works (e.g. 2.5-s crops).
    `indices` (B, K) keeps only those patch tokens (the context view in pretraining).
    """

    def __init__(self, config: EcgJepaConfig):
        super().__init__(config)
        self.patch_embed = PatchEmbed1d(config.num_leads, config.hidden_size, config.patch_size, bias=False)
        table = interleaved_sincos(config.num_patches, config.hidden_size)
        self.register_buffer("pos_embed", table, persistent=True)
        self.encoder = build_encoder(config, config.num_register_tokens)
        self.post_init()

    def forward(self, input_values: torch.Tensor, indices: torch.Tensor | None = None, **kwargs) -> BaseModelOutput:
        check_input_length(self.config, input_values)
        if kwargs.get("leads") is not None:
            raise ValueError("leads= selects leads of the per-lead variant; this fused-lead model needs all its leads")
        tokens = self.patch_embed(input_values)
        tokens = tokens + self.pos_embed[: tokens.shape[1]].to(tokens.dtype)
        return BaseModelOutput(last_hidden_state=self.encoder(tokens, indices))


class EcgJepaPerLeadModel(EcgJepaPerLeadPreTrainedModel):
    """Kim et al.: (B, c, samples) at 250 Hz → (B, c·P, hidden_size), token lead·P + time for P = samples /
    patch_size, each a `Linear(patch_size → hidden_size)` of one lead's patch; 2-D sin-cos over (lead, time) is added
    before every block and tokens attend only within their lead or time patch (CroPA). `leads` (names or rows of
    `config.lead_names`) encodes a subset of leads with their own positions; `indices` (B, K) keeps those tokens.
    """

    def __init__(self, config: EcgJepaPerLeadConfig):
        super().__init__(config)
        self.patch_embed = nn.Linear(config.patch_size, config.hidden_size, bias=config.use_bias)
        table = sincos_2d(config.num_leads, config.num_patches, config.hidden_size)
        self.register_buffer("pos_embed", table.reshape(config.num_leads, config.num_patches, -1), persistent=True)
        self.encoder = build_encoder(config, config.num_register_tokens)
        self.post_init()

    def lead_rows(self, leads: Sequence[str | int] | None = None) -> list[int]:
        """Rows of the position table for `leads` (names, case-insensitive, or row numbers); all leads for None."""
        names = [name.lower() for name in self.config.lead_names]
        if leads is None:
            return list(range(len(names)))
        rows = []
        for lead in leads:
            row = names.index(lead.lower()) if isinstance(lead, str) and lead.lower() in names else lead
            if not isinstance(row, int) or not 0 <= row < len(names):
                raise ValueError(f"unknown lead {lead!r}; this model's positions serve {self.config.lead_names} "
                                 f"(names or rows 0–{len(names) - 1})")  # fmt: skip
            rows.append(row)
        if len(set(rows)) != len(rows):
            raise ValueError(f"leads={list(leads)} names a lead twice")
        return rows

    def forward(
        self,
        input_values: torch.Tensor,
        indices: torch.Tensor | None = None,
        leads: Sequence[str | int] | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        check_input_length(self.config, input_values)
        rows, patch = self.lead_rows(leads), self.config.patch_size
        if input_values.ndim != 3 or input_values.shape[1] != len(rows):
            served = [self.config.lead_names[r] for r in rows]
            raise ValueError(
                f"expected (batch, {len(rows)} leads {', '.join(served)}, samples), got shape "
                f"{tuple(input_values.shape)}; select and order the leads by name with EcgJepaProcessor, or pass "
                "leads=[...] naming the rows of a subset"
            )
        batch, num_leads, length = input_values.shape
        if length % patch or length == 0:
            raise ValueError(f"length {length} is not a multiple of the patch size {patch}; crop or pad it")
        num_time = length // patch
        tokens = self.patch_embed(input_values.reshape(batch, num_leads * num_time, patch))
        positions = self.pos_embed[rows, :num_time].reshape(1, num_leads * num_time, -1).to(tokens.dtype)
        positions = positions.expand(batch, -1, -1)
        token_ids = torch.arange(num_leads * num_time, device=tokens.device).expand(batch, -1)
        if indices is not None:
            tokens, positions, token_ids = apply_masks(tokens, indices), apply_masks(positions, indices), indices
        attn_mask = cross_pattern_mask(token_ids, num_time) if self.config.cross_pattern_attention else None
        for block in self.encoder.blocks:
            tokens = block(tokens + positions, attn_mask)
        return BaseModelOutput(last_hidden_state=self.encoder.norm(tokens))


class EcgJepaForPreTraining(JepaForPreTraining, EcgJepaPreTrainedModel):
    """Context encoder on the kept patches → the core predictor at every masked patch vs the EMA target encoder (L1),
    interleaved 1-D sin-cos predictor positions."""

    config: EcgJepaConfig
    encoder_class = EcgJepaModel

    def predictor_positions(self) -> torch.Tensor:
        return interleaved_sincos(self.config.num_patches, self.config.pred_hidden_size)


class EcgJepaPerLeadForPreTraining(JepaForPreTraining, EcgJepaPerLeadPreTrainedModel):
    """Kim et al.: the predictor runs per lead (`PerLeadPredictor`, 1-D sin-cos over time); SmoothL1 on layer-normed
    targets by preset."""

    config: EcgJepaPerLeadConfig
    encoder_class = EcgJepaPerLeadModel

    def make_predictor(self) -> nn.Module:
        return PerLeadPredictor(self.config)

    def predictor_positions(self) -> torch.Tensor:
        return sincos_1d(torch.arange(self.config.num_patches), self.config.pred_hidden_size)

    def forward(self, context_indices: torch.Tensor, target_indices: torch.Tensor, **inputs) -> JepaPreTrainingOutput:
        values = inputs["input_values"]
        context = self.context_encoder(**inputs, indices=context_indices).last_hidden_state
        grid = (values.shape[1], values.shape[-1] // self.config.patch_size)  # (leads, time patches)
        predictions = self.predictor(context, context_indices, target_indices, self.predictor_pos_embed, *grid)
        targets, hidden = self.target(inputs, target_indices)
        prediction_loss = jepa_loss(predictions, targets, self.config.loss_type, self.config.normalize_targets)
        loss, parts = self.objective_loss(prediction_loss, hidden, context[:, self.config.num_register_tokens :])
        return JepaPreTrainingOutput(loss, predictions, targets, hidden.detach().mean(dim=1), parts)


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


class _EcgSequenceClassifier:
    """Encoder + `AttentivePooler` → `config.num_labels` multi-label logits (BCE with `labels`), as the paper's
    linear-probe and fine-tuning head.

    `input_values` (B, leads, samples) gives one prediction per crop; (B, crops, leads, samples) averages the logits
    of each record's crops (the paper's evaluation on 7 strided 2.5-s crops, see `evaluation.strided_crops`).
    Load a pretrained encoder with `AutoModelForSequenceClassification.from_pretrained(folder, num_labels=C)`.
    """

    encoder_class: type[EcgJepaPreTrainedBase]

    def __init__(self, config):
        super().__init__(config)
        self.ecg_jepa = self.encoder_class(config)
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


class EcgJepaForSequenceClassification(_EcgSequenceClassifier, EcgJepaPreTrainedModel):
    __doc__ = _EcgSequenceClassifier.__doc__
    encoder_class = EcgJepaModel


class EcgJepaPerLeadForSequenceClassification(_EcgSequenceClassifier, EcgJepaPerLeadPreTrainedModel):
    __doc__ = _EcgSequenceClassifier.__doc__
    encoder_class = EcgJepaPerLeadModel
