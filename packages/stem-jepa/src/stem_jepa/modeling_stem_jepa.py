"""Stem-JEPA: encoder over the log-mel patch grid, instrument-conditioned stem predictors, and the pretraining wiring.

The context encoder sees the mix of the other stems, the EMA target encoder sees the isolated stem, and the
predictor maps the context grid to the target grid patch by patch (no masks, no mask tokens), conditioned on the
target's instrument class. `StemJepaModel` (what `AutoModel` loads) holds the encoder and the predictor, so a
saved model can score stems against a mix on its own (`stem_jepa.retrieval.rank_stems`).
"""

import torch
import torch.nn.functional as F
from jepa_core.layers import PatchEmbed2d, sincos_2d
from jepa_core.losses import jepa_loss
from jepa_core.modeling_utils import JepaForPreTraining, JepaPreTrainedModel, JepaPreTrainingOutput, build_encoder
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput

from .configuration_stem_jepa import StemJepaConfig


def grid_positions(table: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """Positions (F, T, D) of the first `num_tokens // F` time columns, flattened row-major → (N, D)."""
    freq, time, dim = table.shape
    columns = num_tokens // freq
    if columns * freq != num_tokens or not 1 <= columns <= time:
        raise ValueError(f"{num_tokens} tokens do not form a {freq} × t grid with t <= {time}")
    return table[:, :columns].reshape(-1, dim)


def check_instruments(instrument: torch.Tensor, batch_size: int, num_instruments: int) -> torch.Tensor:
    """Validate instrument class indices (B,) and return them as a LongTensor."""
    instrument = torch.as_tensor(instrument)
    if instrument.ndim == 0:
        instrument = instrument.expand(batch_size)
    if instrument.shape != (batch_size,) or instrument.is_floating_point():
        raise ValueError(f"instrument must be {batch_size} integer class indices, got {tuple(instrument.shape)}")
    if instrument.numel() and (instrument.min() < 0 or instrument.max() >= num_instruments):
        raise ValueError(
            f"instrument class indices must be in [0, {num_instruments}), got {instrument.tolist()}; "
            "map names with config.instrument_index(name)"
        )
    return instrument.long()


class StemEncoder(nn.Module):
    """(B, 1, n_mels, f) log-mel → patches on the (n_mels/16, f/16) grid + fixed 2-D sin-cos → transformer.

    `f` may be any multiple of the patch size up to `num_frames` (the last chunk of a track is shorter).
    """

    def __init__(self, config: StemJepaConfig):
        super().__init__()
        self.n_mels = config.n_mels
        self.patch_embed = PatchEmbed2d(1, config.hidden_size, config.patch_size)
        freq, time = config.grid_shape
        table = sincos_2d(freq, time, config.hidden_size).reshape(freq, time, -1)
        self.register_buffer("pos_embed", table, persistent=True)
        self.trunk = build_encoder(config, 0)

    def forward(self, input_values: torch.Tensor, indices: torch.Tensor | None = None) -> torch.Tensor:
        if input_values.ndim != 4 or input_values.shape[1:3] != (1, self.n_mels):
            raise ValueError(
                f"expected log-mel input shaped (batch, 1, {self.n_mels}, frames), got {tuple(input_values.shape)}; "
                "make it with StemJepaProcessor"
            )
        tokens = self.patch_embed(input_values)
        tokens = tokens + grid_positions(self.pos_embed, tokens.shape[1]).to(tokens.dtype)
        return self.trunk(tokens, indices)


class MlpStemPredictor(nn.Module):
    """The reference's default predictor: a per-patch MLP on [context token ; instrument embedding].

    `pred_mlp_num_hidden_layers` hidden layers of `pred_mlp_hidden_size` with ReLU (so one more Linear), then a
    LayerNorm. No attention: each output patch is predicted from the same patch of the mix, so it stays aligned.
    """

    def __init__(self, config: StemJepaConfig):
        super().__init__()
        self.num_instruments = config.num_instruments
        condition = config.pred_condition_size or config.hidden_size
        self.instrument_embed = (
            nn.Embedding(config.num_instruments, condition) if config.pred_conditioning == "concat" else None
        )
        sizes = [config.hidden_size + (condition if self.instrument_embed is not None else 0)]
        sizes += [config.pred_mlp_hidden_size] * config.pred_mlp_num_hidden_layers
        layers = []
        for size_in, size_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(size_in, size_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], config.hidden_size))
        self.mlp = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, context: torch.Tensor, instrument: torch.Tensor) -> torch.Tensor:
        instrument = check_instruments(instrument, context.shape[0], self.num_instruments)
        if self.instrument_embed is not None:
            condition = self.instrument_embed(instrument.to(context.device))[:, None].expand(-1, context.shape[1], -1)
            context = torch.cat([context, condition.to(context.dtype)], dim=-1)
        return self.norm(self.mlp(context))


class TransformerStemPredictor(nn.Module):
    """The reference's `StemPredictor`: Linear D → P, sin-cos positions, a prepended instrument token,
    `pred_num_hidden_layers` pre-norm blocks + LayerNorm (the core trunk), Linear P → D."""

    def __init__(self, config: StemJepaConfig):
        super().__init__()
        self.num_instruments = config.num_instruments
        width = config.pred_hidden_size
        self.embed = nn.Linear(config.hidden_size, width)
        freq, time = config.grid_shape
        self.register_buffer("pos_embed", sincos_2d(freq, time, width).reshape(freq, time, -1), persistent=True)
        self.instrument_embed = nn.Embedding(config.num_instruments, width)
        self.trunk = build_encoder(
            config,
            width=width,
            depth=config.pred_num_hidden_layers,
            num_heads=config.pred_num_attention_heads,
            mlp_ratio=config.pred_mlp_ratio,
        )
        self.proj = nn.Linear(width, config.hidden_size)

    def forward(self, context: torch.Tensor, instrument: torch.Tensor) -> torch.Tensor:
        instrument = check_instruments(instrument, context.shape[0], self.num_instruments)
        x = self.embed(context) + grid_positions(self.pos_embed, context.shape[1]).to(context.dtype)
        token = self.instrument_embed(instrument.to(context.device))[:, None].to(x.dtype)
        return self.proj(self.trunk(torch.cat([token, x], dim=1))[:, 1:])


def build_stem_predictor(config: StemJepaConfig) -> nn.Module:
    return MlpStemPredictor(config) if config.predictor_type == "mlp" else TransformerStemPredictor(config)


class StemJepaPreTrainedModel(JepaPreTrainedModel):
    config: StemJepaConfig
    config_class = StemJepaConfig
    base_model_prefix = "stem_jepa"
    main_input_name = "input_values"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, PatchEmbed2d):  # MAE / M2D: xavier on the flattened patch projection
            init.xavier_uniform_(module.proj.weight.view(module.proj.weight.shape[0], -1))
            init.zeros_(module.proj.bias)
        elif not isinstance(module, nn.Conv2d):
            super()._init_weights(module)


class StemJepaModel(StemJepaPreTrainedModel):
    """The Stem-JEPA encoder (EMA weights after pretraining) plus its instrument-conditioned predictor.

    `forward(input_values)` → `last_hidden_state` (B, F·T, D), row-major over the (frequency, time) patch grid
    (use `to_grid` for (B, F, T, D)); `predict(context_values, instrument)` → the predicted stem grid.
    """

    def __init__(self, config: StemJepaConfig):
        super().__init__(config)
        self.encoder = StemEncoder(config)
        self.predictor = build_stem_predictor(config)
        self.post_init()

    def forward(self, input_values: torch.Tensor, indices: torch.Tensor | None = None, **kwargs) -> BaseModelOutput:
        return BaseModelOutput(last_hidden_state=self.encoder(input_values, indices))

    def predict(self, context_values: torch.Tensor, instrument: torch.Tensor) -> torch.Tensor:
        """Embedding grid (B, N, D) of the stem of class `instrument` that would fit the mix `context_values`."""
        return self.predictor(self.encoder(context_values), instrument)

    def to_grid(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, F·T, D) → (B, F, T, D)."""
        freq = self.config.grid_shape[0]
        return hidden.reshape(hidden.shape[0], freq, hidden.shape[1] // freq, hidden.shape[-1])


def stem_loss(predictions: torch.Tensor, targets: torch.Tensor, config: StemJepaConfig) -> torch.Tensor:
    """`norm_mse` (reference): targets standardised per token, then 2 − 2·cos; else a core `jepa_loss`."""
    if config.loss_type != "norm_mse":
        return jepa_loss(predictions, targets, config.loss_type, config.normalize_targets)
    targets = F.layer_norm(targets.float(), targets.shape[-1:], eps=1e-6)
    return (2 - 2 * F.cosine_similarity(predictions.float(), targets, dim=-1)).mean()


class StemJepaForPreTraining(StemJepaPreTrainedModel, JepaForPreTraining):
    """Online encoder + instrument-conditioned predictor against an EMA copy of the encoder, built by the core's
    `JepaForPreTraining` hooks: `context_encoder` is a `StemEncoder`, `predictor` the stem predictor,
    `target.encoder` the EMA copy (no masks: the predictor maps the whole context grid to the target grid).

    Batches come from `StemViewCollator`: `context_values` (the mix of other stems), `target_values` (the isolated
    stem) and `instrument` (its class). `export_encoder()` gives the EMA encoder with the online predictor.
    `objective="sigreg"`: no EMA copy, the online encoder embeds the isolated stem too, the instrument-conditioned
    predictor stays, and λ·SIGReg acts on the projected mean token state of the stems.
    Checkpoints written before the hooks (`online.encoder.*`, `online.predictor.*`) still load.
    """

    encoder_class = StemJepaModel
    _legacy_prefixes = {"online.encoder.": "context_encoder.", "online.predictor.": "predictor."}

    def make_context_encoder(self) -> nn.Module:
        return StemEncoder(self.config)

    def make_predictor(self) -> nn.Module:
        return build_stem_predictor(self.config)

    def make_extra_modules(self) -> None:
        self._register_load_state_dict_pre_hook(self._rename_legacy_keys)

    def _rename_legacy_keys(self, state_dict: dict, prefix: str, *args) -> None:
        for key in [k for k in state_dict if k.startswith(prefix)]:
            for old, new in self._legacy_prefixes.items():
                if key.startswith(prefix + old):
                    state_dict[prefix + new + key[len(prefix + old) :]] = state_dict.pop(key)

    def predict(self, context_values: torch.Tensor, instrument: torch.Tensor) -> torch.Tensor:
        """The online prediction (B, N, D) of the stem of class `instrument` that fits the mix."""
        return self.predictor(self.context_encoder(context_values), instrument)

    def export_encoder(self) -> StemJepaModel:
        model = StemJepaModel(self.config).to(next(self.parameters()).device)
        model.encoder.load_state_dict(self.target.encoder.state_dict())
        model.predictor.load_state_dict(self.predictor.state_dict())
        return model.eval()

    def forward(
        self, context_values: torch.Tensor, target_values: torch.Tensor, instrument: torch.Tensor, **unused
    ) -> JepaPreTrainingOutput:
        context = self.context_encoder(context_values)
        predictions = self.predictor(context, instrument)
        targets, hidden = self.encode_target(target_values)
        loss, parts = self.objective_loss(stem_loss(predictions, targets, self.config), hidden, context)
        return JepaPreTrainingOutput(loss, predictions, targets, hidden.detach().mean(dim=1), parts)
