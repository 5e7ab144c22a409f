"""TS-JEPA: a window encoder on the device, an action-conditioned MLP predictor rolled forward in time, and the
semantic actor that turns (received or predicted) embeddings into control commands at the remote side.

Pretraining (`TimeSeriesJepaForPreTraining`): z_k = encoder(current window); ẑ_{k+j} = P(ẑ_{k+j−1}, u_{k+j−1}) for
j = 1..K_p with ẑ_k = z_k; targets are the EMA encoder's latents of the future windows; loss 1 − cos.
"""

import torch
from jepa_core.losses import jepa_loss
from jepa_core.modeling_utils import JepaForPreTraining, JepaPreTrainedModel, JepaPreTrainingOutput
from jepa_core.targets import EmaTarget, OnlineTarget
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling

from .configuration_tsjepa import TimeSeriesJepaConfig


def gather_windows(series: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Windows of series (B, C, T) at time indices (B, W) → (B, C, W), or (B, K, W) → (B, K, C, W)."""
    if indices.ndim == 2:
        return series.gather(2, indices[:, None, :].expand(-1, series.shape[1], -1))
    batch, count, width = indices.shape
    expanded = series[:, None].expand(-1, count, -1, -1)
    return expanded.gather(3, indices[:, :, None, :].expand(batch, count, series.shape[1], width))


def gather_commands(commands: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Commands (B, K, T) at time indices (B, H) → (B, H, K)."""
    return commands.gather(2, indices[:, None, :].expand(-1, commands.shape[1], -1)).transpose(1, 2)


CONV = {1: nn.Conv1d, 2: nn.Conv2d}
NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}


class ResidualBlock(nn.Module):
    """Basic ResNet block (1-D over time or 2-D over a frame): conv-BN-ReLU-conv-BN plus a (projected) shortcut,
    then ReLU; the first convolution and the shortcut carry the stride."""

    def __init__(
        self, in_width: int, out_width: int, kernel_size: int, momentum: float, dims: int = 1, stride: int = 1
    ):
        super().__init__()
        conv, norm, padding = CONV[dims], NORM[dims], kernel_size // 2
        self.conv1 = conv(in_width, out_width, kernel_size, stride=stride, padding=padding, bias=False)
        self.norm1 = norm(out_width, momentum=momentum)
        self.conv2 = conv(out_width, out_width, kernel_size, padding=padding, bias=False)
        self.norm2 = norm(out_width, momentum=momentum)
        self.shortcut = (
            nn.Identity()
            if in_width == out_width and stride == 1
            else nn.Sequential(
                conv(in_width, out_width, 1, stride=stride, bias=False), norm(out_width, momentum=momentum)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.norm1(self.conv1(x)))
        return torch.relu(self.norm2(self.conv2(out)) + self.shortcut(x))


class WindowEncoder(nn.Module):
    """Ψθ: a window (B, C, W) → its embedding (B, hidden_size). ResNet, flattened, projected.

    Sensors: a 1-D ResNet over the W time steps (stride 1). Frames: the C = height × width pixels of the W
    stacked frames are unflattened to (B, W, height, width) and go through a 2-D ResNet (stem and every stage
    stride 2), so the projection keeps where the cart and pole are.
    """

    def __init__(self, config: TimeSeriesJepaConfig):
        super().__init__()
        widths, momentum, kernel = config.encoder_widths, config.batch_norm_momentum, config.kernel_size
        self.frames = config.observation == "frames"
        dims, stride = (2, 2) if self.frames else (1, 1)
        in_channels = config.window_size if self.frames else config.num_channels
        self.frame_shape = (config.frame_height, config.frame_width)
        self.stem = nn.Sequential(
            CONV[dims](in_channels, widths[0], kernel, stride=stride, padding=kernel // 2, bias=False),
            NORM[dims](widths[0], momentum=momentum),
            nn.ReLU(),
        )
        blocks, in_width = [], widths[0]
        for width in widths:
            for index in range(config.blocks_per_stage):
                blocks.append(ResidualBlock(in_width, width, kernel, momentum, dims, stride if index == 0 else 1))
                in_width = width
        self.blocks = nn.Sequential(*blocks)
        with torch.no_grad():  # eval mode: the probe must not touch the BatchNorm running statistics
            features = self.eval().features(torch.zeros(1, config.num_channels, config.window_size)).shape[1]
        self.train()
        self.projection = nn.Linear(features, config.hidden_size)

    def features(self, windows: torch.Tensor) -> torch.Tensor:
        if self.frames:
            windows = windows.transpose(1, 2).unflatten(2, self.frame_shape)
        return self.blocks(self.stem(windows)).flatten(1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.projection(self.features(windows))


class LatentPredictor(nn.Module):
    """Pφ: (latent, command) → next latent, an MLP on their concatenation, applied autoregressively.

    With `pred_residual` the MLP predicts the change of the latent (ẑ_{k+1} = z_k + MLP(z_k, u_k)).
    """

    def __init__(self, config: TimeSeriesJepaConfig):
        super().__init__()
        layers, width = [], config.hidden_size + config.num_commands
        for _ in range(config.pred_num_hidden_layers):
            layers += [nn.Linear(width, config.pred_hidden_size), nn.ReLU()]
            width = config.pred_hidden_size
        layers.append(nn.Linear(width, config.hidden_size))
        self.mlp = nn.Sequential(*layers)
        self.residual = config.pred_residual

    def forward(self, latent: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
        change = self.mlp(torch.cat([latent, command.to(latent.dtype)], dim=-1))
        return latent + change if self.residual else change

    def rollout(self, latent: torch.Tensor, commands: torch.Tensor) -> torch.Tensor:
        """Roll latent (B, D) forward under commands (B, H, K): the predicted latents (B, H, D)."""
        predictions = []
        for step in range(commands.shape[1]):
            latent = self(latent, commands[:, step])
            predictions.append(latent)
        return torch.stack(predictions, dim=1)


class TimeSeriesJepaPreTrainedModel(JepaPreTrainedModel):
    config: TimeSeriesJepaConfig
    config_class = TimeSeriesJepaConfig
    _no_split_modules = []

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        else:
            super()._init_weights(module)


class TimeSeriesJepaModel(TimeSeriesJepaPreTrainedModel):
    """What runs after pretraining: the window encoder (device side) and the latent predictor (remote side).

    `forward(series)` embeds the last `window_size` steps of series (B, C, T ≥ window_size), or the window at
    `indices` (B, window_size): `last_hidden_state` (B, 1, D) and `pooler_output` (B, D).
    `rollout(latent, commands)` predicts future latents when packets are lost. `with_predictor=False` builds the
    encoder alone (the pretraining model's context encoder: its predictor is the pretraining model's `predictor`).
    """

    base_model_prefix = "tsjepa"
    main_input_name = "series"

    def __init__(self, config: TimeSeriesJepaConfig, with_predictor: bool = True):
        super().__init__(config)
        self.encoder = WindowEncoder(config)
        self.predictor = LatentPredictor(config) if with_predictor else None
        self.post_init()

    def check_series(self, series: torch.Tensor) -> None:
        config = self.config
        if series.ndim != 3 or series.shape[1] != config.num_channels:
            channels = (
                f"{config.num_channels} channels = {config.frame_height} × {config.frame_width} pixels"
                if config.observation == "frames"
                else f"{config.num_channels} channels"
            )
            raise ValueError(
                f"series must be shaped (batch, {channels}, time), got {tuple(series.shape)}; "
                "stack windows as (batch, channels, time) (frames flattened) or set the input size in the config"
            )
        if series.shape[2] < config.window_size:
            raise ValueError(
                f"series has {series.shape[2]} time steps but the encoder needs windows of {config.window_size}"
            )
        if not torch.isfinite(series).all():
            raise ValueError("series has NaN or infinite readings; interpolate or drop them before encoding")

    def embed(self, series: torch.Tensor, indices: torch.Tensor | None = None) -> torch.Tensor:
        """Embeddings (B, D) of the windows at `indices`, or of the last window of each series."""
        self.check_series(series)
        windows = series[:, :, -self.config.window_size :] if indices is None else gather_windows(series, indices)
        return self.encoder(windows)

    def forward(
        self, series: torch.Tensor, indices: torch.Tensor | None = None, **kwargs
    ) -> BaseModelOutputWithPooling:
        embedding = self.embed(series, indices)
        return BaseModelOutputWithPooling(last_hidden_state=embedding[:, None], pooler_output=embedding)

    def rollout(self, latent: torch.Tensor, commands: torch.Tensor) -> torch.Tensor:
        """Predicted latents (B, H, D) from latent (B, D) under commands (B, H, num_commands)."""
        if self.predictor is None:
            raise ValueError("this encoder was built without its predictor (with_predictor=False)")
        if commands.ndim != 3 or commands.shape[-1] != self.config.num_commands:
            raise ValueError(
                f"commands must be (batch, horizon, {self.config.num_commands}), got {tuple(commands.shape)}"
            )
        return self.predictor.rollout(latent, commands)


class TimeSeriesJepaForPreTraining(TimeSeriesJepaPreTrainedModel, JepaForPreTraining):
    """TS-JEPA pretraining: current window → rolled-out predictions vs EMA latents of the future windows.

    On the core wiring through its hooks: the context encoder is the window encoder (a `TimeSeriesJepaModel`
    without predictor), the target an EMA copy of its `WindowEncoder` (under `objective="sigreg"` the encoder
    itself, with λ·SIGReg on the projected embeddings of the current and future windows), the predictor the domain's
    action-conditioned MLP (`LatentPredictor`, no position table). `forward` is the domain's own (windows and
    commands gathered in time, autoregressive roll-out); `export_encoder` puts encoder and predictor together.
    """

    encoder_class = TimeSeriesJepaModel

    def __init__(self, config: TimeSeriesJepaConfig):
        super().__init__(config)
        self.register_load_state_dict_pre_hook(_rename_legacy_predictor_keys)

    def make_context_encoder(self) -> TimeSeriesJepaModel:
        return TimeSeriesJepaModel(self.config, with_predictor=False)

    def make_target(self) -> EmaTarget | OnlineTarget:
        if self.config.objective == "sigreg":
            return OnlineTarget(self.context_encoder.encoder, 0, **self.online_target_options())
        return EmaTarget(self.context_encoder.encoder)

    def make_predictor(self) -> LatentPredictor:
        return LatentPredictor(self.config)

    def predictor_positions(self) -> None:
        return None

    def export_encoder(self) -> TimeSeriesJepaModel:
        """Encoder + predictor for deployment; the encoder is the online or EMA one per `deploy_encoder`."""
        model = TimeSeriesJepaModel(self.config).to(next(self.parameters()).device)
        source = self.target.encoder if self.config.deploy_encoder == "target" else self.context_encoder.encoder
        model.encoder.load_state_dict(source.state_dict())
        model.predictor.load_state_dict(self.predictor.state_dict())
        return model

    def forward(
        self,
        series: torch.Tensor,
        commands: torch.Tensor,
        context_indices: torch.Tensor,
        target_indices: torch.Tensor,
        command_indices: torch.Tensor,
        **unused,
    ) -> JepaPreTrainingOutput:
        latent = self.context_encoder.embed(series, context_indices)
        predictions = self.predictor.rollout(latent, gather_commands(commands, command_indices))
        future = gather_windows(series, target_indices)
        targets, hidden = (x.unflatten(0, future.shape[:2]) for x in self.encode_target(future.flatten(0, 1)))
        prediction_loss = jepa_loss(predictions, targets, self.config.loss_type, self.config.normalize_targets)
        windows = torch.cat([latent[:, None], hidden], dim=1).flatten(0, 1)[:, None]  # every window one sample
        loss, parts = self.objective_loss(prediction_loss, windows, latent[:, None])
        return JepaPreTrainingOutput(loss, predictions, targets, hidden[:, 0].detach(), parts)


def _rename_legacy_predictor_keys(module, state_dict, prefix, *args) -> None:
    """Checkpoints from before the core hooks kept the predictor inside the context encoder."""
    old = prefix + "context_encoder.predictor."
    for key in [k for k in state_dict if k.startswith(old)]:
        state_dict[prefix + "predictor." + key[len(old) :]] = state_dict.pop(key)


class SemanticActor(TimeSeriesJepaPreTrainedModel):
    """Cε: embedding (B, D) → command (B, num_commands), an MLP with ReLU and dropout, trained on frozen embeddings.

    Inputs are standardised with the `input_mean` / `input_std` buffers, set from the training inputs.
    """

    base_model_prefix = "actor"

    def __init__(self, config: TimeSeriesJepaConfig, input_size: int | None = None):
        super().__init__(config)
        width = input_size or config.hidden_size
        self.register_buffer("input_mean", torch.zeros(width))
        self.register_buffer("input_std", torch.ones(width))
        layers = []
        for hidden in config.actor_hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(config.actor_dropout)]
            width = hidden
        layers.append(nn.Linear(width, config.num_commands))
        self.mlp = nn.Sequential(*layers)
        self.post_init()

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.mlp((embeddings - self.input_mean) / self.input_std)
