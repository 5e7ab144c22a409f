"""Shared Hugging Face plumbing: the config base with presets, the pretrained-model base, Auto* registration."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForPreTraining,
    PreTrainedConfig,
    PreTrainedModel,
)
from transformers import initialization as init
from transformers.modeling_outputs import ModelOutput

from .data_checks import BAD_FILE_POLICIES
from .encoder import TransformerEncoder
from .losses import jepa_loss
from .predictor import JepaPredictor
from .sigreg import sigreg
from .targets import EmaTarget, OnlineTarget, last_hidden_state

OBJECTIVES = ("ema", "sigreg")
SIGREG_EMBEDDINGS = ("pooled", "tokens")
SIGREG_VIEWS = ("full", "context")


@strict
class JepaConfig(PreTrainedConfig):
    """Hyper-parameters every JEPA shares: encoder, predictor, loss, EMA and optimisation.

    `objective="ema"` predicts the latents of an EMA target encoder (I-JEPA); `objective="sigreg"` (LeJEPA) predicts
    the online encoder's own latents of the full input and adds λ·SIGReg (`sigreg_weight`) on a small projection
    (`sigreg_projector_dim`) of the embeddings: loss = (1 − λ)·prediction + λ·SIGReg. `sigreg_embeddings="pooled"`
    gives SIGReg one sample per input (its tokens' mean), `"tokens"` one per token. `sigreg_view="full"` applies
    SIGReg to the states of the full-input (target) pass, which then runs forward and backward; `"context"` to the
    context encoder's states, so that with stop-gradient the full-input pass runs without autograd, as the EMA
    teacher's does: a step then costs about an EMA step (`benchmarks/sigreg_cost.py`).
    `sigreg_stop_gradient=True` (default) detaches the predicted targets; SIGReg still reaches the encoder. Measured
    (`experiments/sigreg/variants.py`, I-JEPA tiny, 50 steps, seeds 0 and 1, mean ± half-range): linear probe
    0.819 ± 0.017 with it vs 0.773 ± 0.013 without (LeJEPA's choice), RankMe 9.2 ± 1.4 vs 8.5 ± 0.2; in the deep
    linear model (`experiments/sigreg/deep_linear.py`) the loss without it collapses at small λ.
    Domain configs subclass it, add their own fields and fill `presets`. Defaults are I-JEPA's.
    """

    presets: ClassVar[dict[str, dict]] = {}

    hidden_size: int = 192
    num_hidden_layers: int = 12
    num_attention_heads: int = 3
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    use_bias: bool = True
    drop_path_rate: float = 0.0
    layer_norm_eps: float = 1e-6
    initializer_range: float = 0.02
    pred_hidden_size: int = 384
    pred_num_hidden_layers: int = 12
    pred_num_attention_heads: int | None = None
    pred_mlp_ratio: float = 4.0
    loss_type: str = "smooth_l1"
    normalize_targets: bool = True
    ema_momentum_start: float = 0.996
    ema_momentum_end: float = 1.0
    learning_rate: float = 1e-3
    start_learning_rate: float = 2e-4
    final_learning_rate: float = 1e-6
    warmup_ratio: float = 40 / 300
    weight_decay: float = 0.04
    final_weight_decay: float = 0.4
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float | None = None
    train_batch_size: int = 128
    max_steps: int = 1000
    num_register_tokens: int = 0
    preset: str | None = None
    on_bad_file: str = "error"
    objective: str = "ema"
    sigreg_weight: float = 0.05
    sigreg_num_directions: int = 256
    sigreg_projector_dim: int = 64
    sigreg_stop_gradient: bool = True
    sigreg_embeddings: str = "pooled"
    sigreg_view: str = "full"

    def __post_init__(self, **kwargs):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.sigreg_embeddings not in SIGREG_EMBEDDINGS:
            raise ValueError(f"sigreg_embeddings must be one of {SIGREG_EMBEDDINGS}, got {self.sigreg_embeddings!r}")
        if self.sigreg_view not in SIGREG_VIEWS:
            raise ValueError(f"sigreg_view must be one of {SIGREG_VIEWS}, got {self.sigreg_view!r}")
        if self.on_bad_file not in BAD_FILE_POLICIES:
            raise ValueError(f"on_bad_file must be one of {BAD_FILE_POLICIES}, got {self.on_bad_file!r}")
        if self.pred_num_attention_heads is None:
            self.pred_num_attention_heads = self.num_attention_heads
        super().__post_init__(**kwargs)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "JepaConfig":
        """Config of a named preset (e.g. "tiny"), with keyword overrides."""
        if name not in cls.presets:
            raise ValueError(f"unknown preset {name!r} for {cls.__name__}; available: {', '.join(cls.presets)}")
        return cls(**{**cls.presets[name], "preset": name, **overrides})


@dataclass
class JepaPreTrainingOutput(ModelOutput):
    """loss; predictions and targets (B, T, Kt, D); target_embeddings (B, D), pooled, for collapse monitoring;
    loss_parts: the terms of the loss by name (e.g. prediction and sigreg), logged separately."""

    loss: torch.Tensor | None = None
    predictions: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    target_embeddings: torch.Tensor | None = None
    loss_parts: dict[str, torch.Tensor] | None = None


class JepaPreTrainedModel(PreTrainedModel):
    """Base of every JEPA model: truncated-normal init, SDPA, activation checkpointing."""

    config: JepaConfig
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _no_split_modules = ["Block"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Truncated normal at `config.initializer_range`, or at the module's own `init_std` when it sets one."""
        std = getattr(module, "init_std", None) or self.config.initializer_range
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.Embedding):
            init.trunc_normal_(module.weight, std=std)
            if getattr(module, "bias", None) is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, JepaPredictor):
            init.trunc_normal_(module.mask_token, std=std)
        elif isinstance(module, TransformerEncoder) and module.prefix_tokens is not None:
            init.trunc_normal_(module.prefix_tokens, std=std)


class JepaForPreTraining(JepaPreTrainedModel):
    """The common JEPA wiring: context encoder → predictor, against a target (an EMA copy of the encoder).

    Subclasses set `encoder_class` (the domain's `...Model`, whose forward takes the inputs plus `indices=` and
    returns `last_hidden_state` with `config.num_register_tokens` prefix tokens first). Where a paper departs
    from the common path, small hooks, called in this order by `__init__`, change one part each:
    - `make_context_encoder()`: default `encoder_class(config)`;
    - `make_target()`: default an `EmaTarget` of the context encoder (a `FixedTransformTarget` for fixed targets);
    - `make_predictor()`: default the core transformer predictor sized by the `pred_*` fields;
    - `predictor_positions()`: a fixed (N, pred_hidden_size) table, or None (default) when positions are
      computed in `forward` or the predictor needs none;
    - `make_extra_modules()`: any further modules (conditioning tables, heads), created before weight init;
    - `after_init()`: adjustments after the weight init (e.g. residual rescaling), before the target is synced.
    `forward` may be overridden for a different flow. `AutoModel` users get `export_encoder()`: the target encoder
    for EMA targets, else the context encoder.
    """

    encoder_class: type[JepaPreTrainedModel]

    def __init__(self, config: JepaConfig):
        super().__init__(config)
        self.context_encoder = self.make_context_encoder()
        self.target = self.make_target()
        self.predictor = self.make_predictor()
        positions = self.predictor_positions()
        if positions is not None:
            self.register_buffer("predictor_pos_embed", positions)
        self.make_extra_modules()
        if config.objective == "sigreg":
            self.sigreg_projector = sigreg_projector(config.hidden_size, config.sigreg_projector_dim)
            self.register_buffer("sigreg_step", torch.zeros((), dtype=torch.long))  # seeds the slices; checkpointed
            self._host_sigreg_step: int | None = None  # its value on the host, so that steps never wait for a GPU
            self.register_load_state_dict_post_hook(_forget_host_sigreg_step)
        self.post_init()
        self.after_init()
        if isinstance(self.target, EmaTarget):
            self.target.sync()

    def make_context_encoder(self) -> nn.Module:
        return self.encoder_class(self.config)

    def make_target(self) -> nn.Module:
        if self.config.objective == "sigreg":
            return OnlineTarget(self.context_encoder, self.config.num_register_tokens, **self.online_target_options())
        return EmaTarget(self.context_encoder, self.config.num_register_tokens)

    def online_target_options(self) -> dict:
        """`OnlineTarget`'s options from the config: stop-gradient, and autograd for the full-input pass only
        where something takes gradients through it (SIGReg on its states, or targets without stop-gradient)."""
        stop = self.config.sigreg_stop_gradient
        return {"stop_gradient": stop, "with_grad": not (stop and self.config.sigreg_view == "context")}

    def make_predictor(self) -> nn.Module:
        return build_predictor(self.config, self.config.num_register_tokens)

    def predictor_positions(self) -> torch.Tensor | None:
        return None

    def make_extra_modules(self) -> None:
        """Create any further modules here (they get the model's weight init)."""

    def after_init(self) -> None:
        """Adjust weights after the init (runs before the EMA target copies the context encoder)."""

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return self.target.momentum_pairs()

    def export_encoder(self) -> JepaPreTrainedModel:
        return self.target.encoder if isinstance(self.target, EmaTarget) else self.context_encoder

    def encode_target(self, *args, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        """(targets, states) of the target encoder on the inputs, for domains with their own `forward`: the EMA
        copy without gradient (both the same), or under `objective="sigreg"` the online encoder, whose states keep
        their gradient (for SIGReg) and whose targets are detached with `sigreg_stop_gradient`."""
        if isinstance(self.target, EmaTarget):
            with torch.no_grad():
                hidden = last_hidden_state(self.target.encoder(*args, **kwargs))
            return hidden, hidden
        hidden = self.target.encode(*args, **kwargs)
        return (hidden.detach() if self.config.sigreg_stop_gradient else hidden), hidden

    def objective_loss(
        self, prediction_loss: torch.Tensor, target_hidden: torch.Tensor | None, context_hidden: torch.Tensor
    ) -> tuple[torch.Tensor, dict]:
        """The training loss from the prediction loss and the token states (B, N, D) of the full-input pass and of
        the context encoder (prefix tokens removed): the prediction loss alone for `objective="ema"`, else
        (1 − λ)·prediction + λ·SIGReg of the projected pooled embeddings (or of every token's, with
        `sigreg_embeddings="tokens"`) of the view `sigreg_view` names. Domains without a full-input pass (fixed
        targets) give None for it and always regularise the context. Domains that write their own `forward` call
        this too."""
        if self.config.objective != "sigreg":
            return prediction_loss, {"prediction": prediction_loss.detach()}
        use_full = target_hidden is not None and self.config.sigreg_view == "full"
        target_hidden = target_hidden if use_full else context_hidden
        if self.training and target_hidden.shape[0] < 2:
            raise ValueError("SIGReg needs at least 2 samples per process and step; raise --batch-size")
        if self._host_sigreg_step is None:  # once after init or loading: the only read of the buffer
            self._host_sigreg_step = int(self.sigreg_step)
        step = self._host_sigreg_step
        if self.training:
            self.sigreg_step += 1
            self._host_sigreg_step += 1
        pooled = self.config.sigreg_embeddings == "pooled"
        projected = self.sigreg_projector(target_hidden.mean(dim=1) if pooled else target_hidden.flatten(0, 1))
        regulariser = sigreg(projected, step, self.config.sigreg_num_directions)
        weight = self.config.sigreg_weight
        loss = (1 - weight) * prediction_loss + weight * regulariser
        return loss, {"prediction": prediction_loss.detach(), "sigreg": regulariser.detach()}

    def forward(self, context_indices: torch.Tensor, target_indices: torch.Tensor, **inputs) -> JepaPreTrainingOutput:
        context = last_hidden_state(self.context_encoder(**inputs, indices=context_indices))
        positions = getattr(self, "predictor_pos_embed", None)
        predictions = self.predictor(context, context_indices, target_indices, positions)
        targets, hidden = self.target(inputs, target_indices)
        prediction_loss = jepa_loss(predictions, targets, self.config.loss_type, self.config.normalize_targets)
        loss, parts = self.objective_loss(prediction_loss, hidden, context[:, self.config.num_register_tokens :])
        return JepaPreTrainingOutput(loss, predictions, targets, hidden.detach().mean(dim=1), parts)


def _forget_host_sigreg_step(model: nn.Module, incompatible_keys: object) -> None:
    """After `load_state_dict`, read the loaded step on the next call."""
    model._host_sigreg_step = None


def sigreg_projector(width: int, dim: int) -> nn.Sequential:
    """SIGReg's projector: Linear → BatchNorm → GELU → Linear, its linear layers at std 1/√fan-in.

    The pooled embeddings of a fresh encoder share a large mean and vary little between samples; at the usual 0.02
    std the projections start near a point, where SIGReg's gradient vanishes (measured on I-JEPA tiny: the statistic
    stayed at its collapsed value for 100 steps while the encoder collapsed). The batch norm centres and scales
    them, as in LeJEPA's projector, so SIGReg acts from the first step."""
    # batch statistics only: running ones would be updated per process and differ between data-parallel ranks
    norm = nn.BatchNorm1d(width, track_running_stats=False)
    layers = nn.Sequential(nn.Linear(width, width), norm, nn.GELU(), nn.Linear(width, dim))
    for layer in (layers[0], layers[3]):
        layer.init_std = layer.in_features**-0.5
    return layers


def build_encoder(
    config: JepaConfig,
    num_prefix_tokens: int = 0,
    *,
    width: int | None = None,
    depth: int | None = None,
    num_heads: int | None = None,
    mlp_ratio: float | None = None,
) -> TransformerEncoder:
    """A transformer trunk sized by the config's encoder fields; keywords override the size (e.g. a predictor's)."""
    return TransformerEncoder(
        width or config.hidden_size,
        depth or config.num_hidden_layers,
        num_heads or config.num_attention_heads,
        mlp_ratio or config.mlp_ratio,
        config.qkv_bias,
        config.use_bias,
        config.drop_path_rate,
        config.layer_norm_eps,
        num_prefix_tokens,
    )


def build_predictor(config: JepaConfig, num_prefix_tokens: int = 0) -> JepaPredictor:
    """The predictor, sized by the `pred_*` fields of the config."""
    return JepaPredictor(
        config.hidden_size,
        config.pred_hidden_size,
        config.pred_num_hidden_layers,
        config.pred_num_attention_heads,
        config.pred_mlp_ratio,
        config.qkv_bias,
        config.use_bias,
        config.drop_path_rate,
        config.layer_norm_eps,
        num_prefix_tokens,
    )


def rescale_residual_branches(encoder: TransformerEncoder | JepaPredictor) -> None:
    """Divide each block's output projections by √(2·layer), as I-JEPA's `fix_init_weight`."""
    with torch.no_grad():
        for layer, block in enumerate(encoder.blocks, start=1):
            block.attn.proj.weight.div_((2.0 * layer) ** 0.5)
            block.mlp.fc2.weight.div_((2.0 * layer) ** 0.5)


def register_auto_classes(
    config_class: type[PreTrainedConfig],
    model_class: type[PreTrainedModel],
    pretraining_class: type[PreTrainedModel] | None = None,
) -> None:
    """Register a domain's classes with AutoConfig / AutoModel / AutoModelForPreTraining."""
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)
    if pretraining_class is not None:
        AutoModelForPreTraining.register(config_class, pretraining_class, exist_ok=True)


def check_model_type(folder: str | Path, expected: str) -> None:
    """Raise a clear error when a checkpoint folder holds another model type than `expected`."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} has no config.json; is it a folder written by save_pretrained?")
    found = json.loads(path.read_text()).get("model_type")
    if found != expected:
        raise ValueError(
            f"{folder} holds a {found!r} checkpoint, not {expected!r}; load it with the package that made it"
        )
