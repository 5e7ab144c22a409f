"""T-JEPA encoder (feature tokenizer + [REG] tokens + transformer + head) and its JEPA pretraining wrapper.

The context encoder sees only the context features (gathered after tokenisation and positions); the
[REG] tokens are the core encoder's prefix tokens, prepended after masking, so they are never masked and
are present in both encoders; the core target provider drops them before the loss. That is the clean
design the spec asks for (the reference indexes its masks into the [REG] + feature sequence by mistake).
"""

import math

import torch
from jepa_core.layers import sincos_1d
from jepa_core.modeling_utils import JepaForPreTraining, JepaPreTrainedModel, build_encoder
from jepa_core.overrides import ConfigFieldError
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput

from .configuration_tjepa import TabularJepaConfig


def sincos_positions(positions: torch.Tensor, dim: int, base: float) -> torch.Tensor:
    """(N,) positions → (N, dim) sin-cos table with frequency base `base` (T-JEPA's encoder uses 100)."""
    omega = 1.0 / base ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    angles = positions.to(torch.float64)[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


class FeatureTokenizer(nn.Module):
    """One token per feature: numerical x_j·W_j + b_j, categorical Emb_j[c_j] + b_j (FT-Transformer)."""

    def __init__(self, num_numerical: int, cardinalities: list[int], dim: int):
        super().__init__()
        self.num_numerical, self.cardinalities = num_numerical, list(cardinalities)
        self.numerical_weight = nn.Parameter(torch.empty(num_numerical, dim))
        self.numerical_bias = nn.Parameter(torch.empty(num_numerical, dim))
        if self.cardinalities:
            self.category_embeddings = nn.Parameter(torch.empty(sum(self.cardinalities), dim))
            self.categorical_bias = nn.Parameter(torch.empty(len(self.cardinalities), dim))
            offsets = torch.tensor([0, *self.cardinalities[:-1]]).cumsum(0)
            self.register_buffer("category_offsets", offsets, persistent=True)

    def _check(self, numerical: torch.Tensor | None, categorical: torch.Tensor | None) -> None:
        for name, values, width in (
            ("numerical_features", numerical, self.num_numerical),
            ("categorical_features", categorical, len(self.cardinalities)),
        ):
            if width and values is None:
                raise ValueError(f"the model expects {width} {name} but got none; preprocess rows with the processor")
            if values is not None and (values.ndim != 2 or values.shape[1] != width):
                raise ValueError(
                    f"{name} must be (batch, {width}) for this model, got {tuple(values.shape)}; the table does "
                    "not match the model's schema (use the processor saved with the model)"
                )
        if categorical is not None and categorical.numel():
            if categorical.is_floating_point():
                raise TypeError("categorical_features must be integer category codes from the processor")
            limits = torch.tensor(self.cardinalities, device=categorical.device)
            if (categorical < 0).any() or (categorical >= limits).any():
                raise ValueError(f"categorical codes out of range for cardinalities {self.cardinalities}")

    def forward(self, numerical: torch.Tensor | None, categorical: torch.Tensor | None) -> torch.Tensor:
        self._check(numerical, categorical)
        tokens = []
        if self.num_numerical:
            tokens.append(
                numerical.to(self.numerical_weight.dtype)[..., None] * self.numerical_weight + self.numerical_bias
            )
        if self.cardinalities:
            codes = categorical.long() + self.category_offsets
            tokens.append(nn.functional.embedding(codes, self.category_embeddings) + self.categorical_bias)
        return torch.cat(tokens, dim=1)


class TabularJepaPreTrainedModel(JepaPreTrainedModel):
    """Adds T-JEPA's tokenizer init: Kaiming-uniform (a=√5) for every tokenizer parameter."""

    config: TabularJepaConfig
    base_model_prefix = "tjepa"
    main_input_name = "numerical_features"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, FeatureTokenizer):
            for param in module.parameters():
                if param.numel():
                    init.kaiming_uniform_(param, a=math.sqrt(5))
            return
        super()._init_weights(module)


class TabularJepaModel(TabularJepaPreTrainedModel):
    """The T-JEPA encoder: rows → (B, k + K, hidden) states, the k [REG] tokens first.

    `indices` (B, K) keeps only those features (context encoder); without it all D features are encoded.
    Head after the core trunk (pre-norm blocks + LayerNorm): Dropout → Linear → Dropout → LayerNorm.
    """

    def __init__(self, config: TabularJepaConfig):
        super().__init__(config)
        self.tokenizer = FeatureTokenizer(
            config.num_numerical_features, config.categorical_cardinalities, config.hidden_size
        )
        positions = torch.arange(config.num_features) + config.num_register_tokens
        pos_embed = sincos_positions(positions, config.hidden_size, config.position_embedding_base)
        self.register_buffer("pos_embed", pos_embed, persistent=True)
        self.encoder = build_encoder(config, config.num_register_tokens)
        self.head = nn.Sequential(
            nn.Dropout(config.hidden_dropout_prob),
            nn.Linear(config.hidden_size, config.hidden_size),
            nn.Dropout(config.hidden_dropout_prob),
            nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps),
        )
        self.post_init()

    def forward(
        self,
        numerical_features: torch.Tensor | None = None,
        categorical_features: torch.Tensor | None = None,
        indices: torch.Tensor | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        tokens = self.tokenizer(numerical_features, categorical_features) + self.pos_embed
        return BaseModelOutput(last_hidden_state=self.head(self.encoder(tokens, indices)))

    @torch.no_grad()
    def embed(
        self,
        numerical_features: torch.Tensor | None = None,
        categorical_features: torch.Tensor | None = None,
        pool: str | None = None,
        batch_size: int = 1024,
    ) -> torch.Tensor:
        """Frozen row embeddings (N, F) in eval mode, pooled as `pool` (default `config.probe_pool`)."""
        pool = pool or self.config.probe_pool
        k = self.config.num_register_tokens
        if pool == "register" and not k:
            raise ConfigFieldError(
                "pool='register' needs num_register_tokens >= 1 (or use 'flatten' or 'mean')", "num_register_tokens", 1
            )
        was_training = self.training
        self.eval()
        rows = numerical_features if numerical_features is not None else categorical_features
        device = self.pos_embed.device
        chunks = []
        for start in range(0, len(rows), batch_size):
            part = {
                name: value[start : start + batch_size].to(device)
                for name, value in (
                    ("numerical_features", numerical_features),
                    ("categorical_features", categorical_features),
                )
                if value is not None
            }
            hidden = self(**part).last_hidden_state
            if pool == "flatten":
                chunks.append(hidden.flatten(1))
            elif pool == "mean":
                chunks.append(hidden[:, k:].mean(1))
            else:
                chunks.append(hidden[:, :k].mean(1))
        self.train(was_training)
        return torch.cat(chunks).float().cpu()


class TabularJepaForPreTraining(TabularJepaPreTrainedModel, JepaForPreTraining):
    """T-JEPA pretraining: context features → predictor, vs the EMA target encoder on the full row (MSE).

    The core wiring is T-JEPA's once masks index feature tokens only: predictor positions are sin-cos
    (base 10000) over the same token indices as the encoder's, and [REG] states never enter the loss.
    """

    encoder_class = TabularJepaModel

    def predictor_positions(self) -> torch.Tensor:
        positions = torch.arange(self.config.num_features) + self.config.num_register_tokens
        return sincos_1d(positions, self.config.pred_hidden_size)
