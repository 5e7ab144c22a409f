"""SAR-JEPA encoder (ViT with a CLS token, a mask token and relative positions) and its pretraining model.

As in the paper's code, there is no EMA target encoder: the encoder sees every token of each masking window
(masked ones replaced by a learned mask token), a narrow transformer decodes them, and a linear head regresses
the fixed multi-scale gradient-by-ratio features of the masked patches (MSE on masked tokens only).
"""

import math

import torch
import torch.nn.functional as F
from jepa_core.encoder import TransformerEncoder
from jepa_core.layers import Attention, Block, PatchEmbed2d, sincos_2d, stochastic_depth_rates
from jepa_core.losses import jepa_loss
from jepa_core.masks import apply_masks
from jepa_core.modeling_utils import JepaForPreTraining, JepaPreTrainedModel, JepaPreTrainingOutput
from jepa_core.targets import FixedTransformTarget
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, ImageClassifierOutput

from .configuration_sar_jepa import SarJepaConfig
from .processor_sar_jepa import MultiScaleGradientTarget


def piecewise_bucket(offset: torch.Tensor, ratio: float) -> torch.Tensor:
    """iRPE piecewise index of integer offsets: exact up to α = ratio, log-compressed beyond, capped at ⌊2·ratio⌋."""
    alpha, beta, gamma = ratio, 2 * ratio, 8 * ratio
    distance = offset.abs().float()
    compressed = alpha + torch.log(distance.clamp(min=alpha) / alpha) / math.log(gamma / alpha) * (beta - alpha)
    compressed = compressed.round().clamp(max=math.floor(beta))
    return torch.where(distance <= alpha, offset.float(), offset.sign() * compressed).long()


def relative_buckets(indices: torch.Tensor, grid_size: int, ratio: float) -> torch.Tensor:
    """Token indices (B, K) on a grid → (B, K, K) product buckets of (row offset, column offset) in [0, n²)."""
    rows, cols = indices // grid_size, indices % grid_size
    cap = math.floor(2 * ratio)
    row_bucket = piecewise_bucket(rows[:, :, None] - rows[:, None, :], ratio) + cap
    col_bucket = piecewise_bucket(cols[:, :, None] - cols[:, None, :], ratio) + cap
    return row_bucket * (2 * cap + 1) + col_bucket


def num_relative_buckets(ratio: float) -> int:
    return (2 * math.floor(2 * ratio) + 1) ** 2


class RelativePositionAttention(Attention):
    """Self-attention with iRPE's contextual relative position on keys (product method):
    logit_ij += (q_i / √d) · r_h[bucket(i, j)]; the first `num_prefix` tokens (CLS) get no bias."""

    def __init__(self, dim: int, num_heads: int, num_buckets: int, qkv_bias: bool = True, proj_bias: bool = True):
        super().__init__(dim, num_heads, qkv_bias, proj_bias)
        self.relative_keys = nn.Parameter(torch.zeros(num_heads, dim // num_heads, num_buckets))

    def forward(self, x: torch.Tensor, buckets: torch.Tensor | None = None, num_prefix: int = 0) -> torch.Tensor:
        if buckets is None:
            return super().forward(x)
        batch, length, dim = x.shape
        head_dim = dim // self.num_heads
        q, k, v = self.qkv(x).reshape(batch, length, 3, self.num_heads, head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        table = torch.einsum("bhld,hdn->bhln", q[:, :, num_prefix:] * head_dim**-0.5, self.relative_keys.to(q.dtype))
        patches = length - num_prefix
        bias = table.gather(-1, buckets[:, None].expand(batch, self.num_heads, patches, patches))
        bias = F.pad(bias, (num_prefix, 0, num_prefix, 0))
        if q.device.type == "cpu":
            # on CPU the fused kernel serves only no-grad calls (a trainable bias needs the math one), which rounds
            # differently: one kernel keeps inference equal to training-mode outputs, in every process
            with sdpa_kernel(SDPBackend.MATH):
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))


class SarJepaBlock(Block):
    """The core pre-norm block with `RelativePositionAttention`."""

    def __init__(self, config: SarJepaConfig, drop_path: float):
        super().__init__(
            config.hidden_size, config.num_attention_heads, config.mlp_ratio, config.qkv_bias, config.use_bias,
            drop_path, config.layer_norm_eps,
        )  # fmt: skip
        relative = config.position_encoding == "relative"
        buckets = num_relative_buckets(config.relative_position_ratio) if relative else 0
        self.attn = RelativePositionAttention(
            config.hidden_size, config.num_attention_heads, buckets, config.qkv_bias, config.use_bias
        )

    def forward(self, x: torch.Tensor, buckets: torch.Tensor | None = None, num_prefix: int = 0) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), buckets, num_prefix))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def init_sar_weights(module: nn.Module, std: float) -> None:
    """Initialise the SAR-specific parameters (the core initialises linear layers and norms)."""
    if isinstance(module, SarJepaModel):
        init.trunc_normal_(module.cls_token, std=std)
        init.trunc_normal_(module.mask_token, std=std)
    elif isinstance(module, RelativePositionAttention):
        init.zeros_(module.relative_keys)


class SarJepaModel(JepaPreTrainedModel):
    """ViT encoder for SAR chips → `last_hidden_state` (B, 1 + K, D), the CLS token first.

    `forward(pixel_values (B, C, H, W), indices=None, masked_positions=None)`: with `indices` (B, K) only those
    tokens are encoded; with window indices (B, W, K) every window is encoded on its own and the windows are
    folded into the batch (B·W, 1 + K, D), as in the paper. `masked_positions` (bool, shaped like `indices`)
    replaces those tokens by the mask token. Positions: relative bias from the tokens' grid coordinates, or
    fixed sin-cos added to the tokens (`config.position_encoding`).
    """

    config: SarJepaConfig
    base_model_prefix = "sar_jepa"
    main_input_name = "pixel_values"

    def __init__(self, config: SarJepaConfig):
        super().__init__(config)
        self.patch_embed = PatchEmbed2d(config.num_channels, config.hidden_size, config.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, config.num_register_tokens, config.hidden_size))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        grid = config.grid_size
        self.register_buffer("pos_embed", sincos_2d(grid, grid, config.hidden_size)[None], persistent=True)
        rates = stochastic_depth_rates(config.num_hidden_layers, config.drop_path_rate)
        self.blocks = nn.ModuleList(SarJepaBlock(config, rate) for rate in rates)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, bias=config.use_bias)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        init_sar_weights(module, self.config.initializer_range)

    def _check_pixels(self, pixel_values: torch.Tensor) -> None:
        size, channels = self.config.image_size, self.config.num_channels
        if pixel_values.ndim != 4 or tuple(pixel_values.shape[1:]) != (channels, size, size):
            raise ValueError(
                f"expected pixel_values shaped (batch, {channels}, {size}, {size}), got {tuple(pixel_values.shape)}; "
                "prepare chips with SarJepaProcessor (it resizes to the model's image_size)"
            )

    def forward(
        self,
        pixel_values: torch.Tensor,
        indices: torch.Tensor | None = None,
        masked_positions: torch.Tensor | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        self._check_pixels(pixel_values)
        weight = self.patch_embed.proj.weight
        tokens = self.patch_embed(pixel_values.to(weight.dtype))
        batch, num_patches = tokens.shape[:2]
        if indices is None:
            indices = torch.arange(num_patches, device=tokens.device).expand(batch, -1)
        if masked_positions is not None and masked_positions.shape != indices.shape:
            raise ValueError(
                f"masked_positions {tuple(masked_positions.shape)} must be shaped like indices {tuple(indices.shape)}"
            )
        length = indices.shape[-1]
        tokens = apply_masks(tokens, indices).reshape(-1, length, tokens.shape[-1])
        indices = indices.reshape(-1, length)
        if masked_positions is not None:
            masked = masked_positions.reshape(-1, length, 1)
            tokens = torch.where(masked, self.mask_token.to(tokens.dtype), tokens)
        buckets = None
        if self.config.position_encoding == "absolute":
            tokens = tokens + self.pos_embed[0, indices].to(tokens.dtype)
        else:
            buckets = relative_buckets(indices, self.config.grid_size, self.config.relative_position_ratio)
        prefix = self.cls_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype)
        hidden = torch.cat([prefix, tokens], dim=1)
        for block in self.blocks:
            hidden = block(hidden, buckets, prefix.shape[1])
        return BaseModelOutput(last_hidden_state=self.norm(hidden))


class SarJepaDecoder(nn.Module):
    """The pretraining decoder: Linear (width → pred width) → narrow transformer → linear head to the target size.

    Applied to every token of a window (the encoder has already put mask tokens at the masked positions)."""

    def __init__(self, config: SarJepaConfig):
        super().__init__()
        self.embed = nn.Linear(config.hidden_size, config.pred_hidden_size, bias=config.use_bias)
        self.trunk = TransformerEncoder(
            config.pred_hidden_size, config.pred_num_hidden_layers, config.pred_num_attention_heads,
            config.pred_mlp_ratio, config.qkv_bias, config.use_bias, config.drop_path_rate, config.layer_norm_eps,
        )  # fmt: skip
        self.head = nn.Linear(config.pred_hidden_size, config.target_dim, bias=config.use_bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(self.embed(hidden)))


class SarJepaForPreTraining(JepaForPreTraining):
    """Window encoder (with mask tokens) → decoder → linear head vs the fixed multi-scale gradient targets.

    Built by the core hooks: `make_target` gives a `FixedTransformTarget` (no EMA pair: `momentum_pairs()` is
    empty, and `export_encoder()` is the trained context encoder), `make_predictor` the `SarJepaDecoder`.
    `objective="sigreg"` keeps the gradient targets and adds λ·SIGReg on the projected patch states of every
    encoded window (the context view: there is no full-input pass): loss = (1 − λ)·MSE + λ·SIGReg.
    """

    config: SarJepaConfig
    encoder_class = SarJepaModel

    def make_target(self) -> nn.Module:
        config = self.config
        return FixedTransformTarget(
            MultiScaleGradientTarget(config.gradient_scales, config.patch_size, config.gradient_offset)
        )

    def make_predictor(self) -> nn.Module:
        return SarJepaDecoder(self.config)

    @property
    def encoder(self) -> SarJepaModel:
        """The trained encoder (`context_encoder`; the name older code used)."""
        return self.context_encoder

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        init_sar_weights(module, self.config.initializer_range)

    def forward(
        self,
        pixel_values: torch.Tensor,
        window_indices: torch.Tensor,
        target_indices: torch.Tensor,
        context_indices: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> JepaPreTrainingOutput:
        """Batches from `SarJepaMaskCollator`; `context_indices` and `labels` are accepted and not needed."""
        if window_indices.ndim != 3 or target_indices.ndim != 3 or window_indices.shape[:2] != target_indices.shape[:2]:
            raise ValueError(
                f"window_indices (B, W, K) and target_indices (B, W, M) expected, got "
                f"{tuple(window_indices.shape)} and {tuple(target_indices.shape)}; use SarJepaMaskCollator"
            )
        batch, windows, length = window_indices.shape
        num_masked = target_indices.shape[-1]
        masked = (window_indices[..., :, None] == target_indices[..., None, :]).any(-1)
        if not (masked.sum(-1) == num_masked).all():
            raise ValueError("every target index must lie inside its window, without repeats; use SarJepaMaskCollator")
        hidden = self.context_encoder(pixel_values, indices=window_indices, masked_positions=masked).last_hidden_state
        prefix = self.config.num_register_tokens
        decoded = self.predictor(hidden)[:, prefix:]
        local = torch.argsort((~masked).reshape(-1, length).to(torch.uint8), dim=1, stable=True)[:, :num_masked]
        predictions = apply_masks(decoded, local).reshape(batch, windows, num_masked, -1)
        targets, _ = self.target({"pixel_values": pixel_values}, target_indices)
        prediction_loss = jepa_loss(predictions, targets, self.config.loss_type, self.config.normalize_targets)
        loss, parts = self.objective_loss(prediction_loss, None, hidden[:, prefix:])  # SIGReg on each window's patches
        return JepaPreTrainingOutput(loss, predictions, targets, hidden[:, prefix:].detach().mean(dim=1), parts)


class SarJepaForImageClassification(JepaPreTrainedModel):
    """The encoder → mean of the patch tokens → LayerNorm (`fc_norm`) → linear head: the paper's fine-tuning
    model (`global_pool`). `from_pretrained(run_dir, num_labels=…)` loads a pretrained encoder and a fresh head;
    with `labels`, the loss is cross-entropy."""

    config: SarJepaConfig
    base_model_prefix = "sar_jepa"
    main_input_name = "pixel_values"

    def __init__(self, config: SarJepaConfig):
        super().__init__(config)
        self.sar_jepa = SarJepaModel(config)
        self.fc_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, bias=config.use_bias)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        init_sar_weights(module, self.config.initializer_range)

    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs
    ) -> ImageClassifierOutput:
        hidden = self.sar_jepa(pixel_values).last_hidden_state[:, self.config.num_register_tokens :]
        logits = self.classifier(self.fc_norm(hidden.mean(dim=1)))
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return ImageClassifierOutput(loss=loss, logits=logits)
