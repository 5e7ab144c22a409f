"""TS-JEPA configuration: window encoder, action-conditioned MLP predictor, semantic actor, channel, data."""

from huggingface_hub.dataclasses import strict
from jepa_core.modeling_utils import JepaConfig
from jepa_core.overrides import ConfigFieldError

SOURCES = ("context", "target")
OBSERVATIONS = ("sensors", "frames")


@strict
class TimeSeriesJepaConfig(JepaConfig):
    """Every TS-JEPA hyper-parameter (Girgis, Valcarce & Bennis, IEEE IoT-J 2026, arXiv 2406.04853).

    Defaults are the journal version as read by a third party (see the package README): 256-d embedding,
    ResNet widths 64→128→256 with BatchNorm + ReLU, MLP predictor 1024 → 256 rolled forward `prediction_horizon`
    = 15 steps conditioned on the commands, cosine loss, EMA 0.99 (fixed), SGD lr 0.2, batch 256, wd 4e-4;
    semantic actor MLP 1024 → 256 → 1 with dropout 0.2, AdamW lr 0.006, batch 200, 300 epochs.

    Choices the paper leaves open (each a field): the input (`observation`) is a window of `window_size` sensor
    readings of `num_channels` channels (1-D ResNet over time, stride 1), or the journal's stack of κ =
    `window_size` rendered grey frames of `frame_height` × `frame_width` (2-D ResNet, frames stacked as input
    channels, stride 2 per stage); `blocks_per_stage` basic blocks; the output is flattened then projected to
    `hidden_size`;
    the predictor fuses latent and command by concatenation (`pred_num_hidden_layers` hidden layers of
    `pred_hidden_size`), and is trained on the applied commands of the data; `deploy_encoder` picks which encoder
    the exported model (and so the device) uses. Channel defaults: `embedding_bits` per value, `packet_loss`.
    """

    model_type = "jepa_tsjepa"
    presets = {
        "tiny": dict(
            hidden_size=32, encoder_widths=[16, 32], pred_hidden_size=128, train_batch_size=64, max_steps=300,
            learning_rate=3e-3, start_learning_rate=3e-4, final_learning_rate=1e-4, warmup_ratio=0.05,
            weight_decay=1e-4, final_weight_decay=1e-4, ema_momentum_start=0.99, ema_momentum_end=0.99,
            num_train_trajectories=512, num_test_trajectories=128, actor_hidden_sizes=[128, 64], actor_epochs=30,
            actor_batch_size=128, control_steps=150,
        ),
        "small": dict(
            hidden_size=128, encoder_widths=[32, 64, 128], pred_hidden_size=512, max_steps=3000,
            learning_rate=1e-3, warmup_ratio=0.05, num_train_trajectories=2048,
        ),
        "tiny_frames": dict(
            observation="frames", window_size=2, frame_height=16, frame_width=32, hidden_size=32,
            encoder_widths=[16, 32], pred_hidden_size=128, train_batch_size=64, max_steps=300, learning_rate=3e-3,
            start_learning_rate=3e-4, final_learning_rate=1e-4, warmup_ratio=0.05, weight_decay=1e-4,
            final_weight_decay=1e-4, num_train_trajectories=256, num_test_trajectories=64,
            actor_hidden_sizes=[128, 64], actor_epochs=30, actor_batch_size=128, control_steps=150,
        ),
        "paper": {},
    }  # fmt: skip

    # input: "sensors" = windows of sensor readings (num_channels, window_size); "frames" = the journal's stacks of
    # window_size (κ) rendered grey frames, flattened to frame_height × frame_width channels (set automatically)
    observation: str = "sensors"
    num_channels: int = 4
    window_size: int = 16
    frame_height: int = 32
    frame_width: int = 64
    # encoder (ResNet over time)
    hidden_size: int = 256
    encoder_widths: list[int] | None = None
    blocks_per_stage: int = 1
    kernel_size: int = 3
    batch_norm_momentum: float = 0.1
    deploy_encoder: str = "context"
    # predictor (action-conditioned MLP, autoregressive)
    num_commands: int = 1
    prediction_horizon: int = 15
    pred_hidden_size: int = 1024
    pred_num_hidden_layers: int = 1
    pred_residual: bool = True
    # objective and optimisation. The paper trains with SGD at lr 0.2; the core trainer is AdamW, for which
    # lr 1e-3 plays that role. max_steps ≈ 150 epochs of 200 trajectories × 85 anchors at batch 256.
    loss_type: str = "cosine"
    normalize_targets: bool = False
    ema_momentum_start: float = 0.99
    ema_momentum_end: float = 0.99
    # SIGReg (objective="sigreg") of the context windows' embeddings: probe 0.510 / 0.764 at 300 / 1200 tiny steps vs
    # 0.471 / 0.613 of every window's, at 0.90x an EMA step's rate instead of 0.38x; 3 seeds (experiments/sigreg/)
    sigreg_view: str = "context"
    learning_rate: float = 1e-3
    start_learning_rate: float = 1e-3
    final_learning_rate: float = 1e-3 * 0.99**7
    warmup_ratio: float = 0.0
    weight_decay: float = 4e-4
    final_weight_decay: float = 4e-4
    train_batch_size: int = 256
    max_steps: int = 10_000
    # semantic actor
    actor_hidden_sizes: list[int] | None = None
    actor_dropout: float = 0.2
    actor_unit_latents: bool = True
    actor_learning_rate: float = 0.006
    actor_batch_size: int = 200
    actor_epochs: int = 300
    actor_windows_per_trajectory: int = 8
    # evaluation: the pole-length probe embeds this many windows per trajectory (random anchors, seeded per split)
    probe_windows_per_trajectory: int = 2
    # simulated plants and data
    pole_half_lengths: list[float] | None = None
    trajectory_length: int = 100
    num_train_trajectories: int = 200
    num_test_trajectories: int = 40
    command_noise: float = 4.0
    data_seed: int = 0
    test_fraction: float = 0.2
    # user files (CSV / Parquet): one row per time step. `time_column` orders the rows (null: file order);
    # `channel_columns` null = every numeric column that is not the time, episode, label or a command column;
    # `command_columns` null = `force` when the file has it, else none. `pretrain` records what it used.
    time_column: str | None = "time"
    episode_column: str = "episode"
    channel_columns: list[str] | None = None
    command_columns: list[str] | None = None
    label_column: str = "label"
    # seconds (or the time column's unit) between steps; null = the train episodes' median step. Episodes
    # sampled otherwise, or irregularly, are linearly interpolated onto this step.
    sampling_interval: float | None = None
    # channel and control evaluation
    embedding_bits: int = 8
    raw_bits: int = 8
    packet_loss: float = 0.1
    scheduler: str = "max_age"
    num_devices: int = 16
    capacity_bits: int | None = None
    control_steps: int = 300
    position_tolerance: float = 0.05
    angle_tolerance: float = 0.05

    def __post_init__(self, **kwargs):
        if self.encoder_widths is None:
            self.encoder_widths = [64, 128, 256]
        if self.actor_hidden_sizes is None:
            self.actor_hidden_sizes = [1024, 256]
        if self.pole_half_lengths is None:
            self.pole_half_lengths = [0.2, 0.4, 0.8, 1.6]
        if self.observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {self.observation!r}")
        if self.observation == "frames":
            if self.frame_height < 8 or self.frame_width < 8:
                raise ValueError(f"frames must be at least 8 × 8 pixels, got {self.frame_height} × {self.frame_width}")
            self.num_channels = self.frame_height * self.frame_width
        super().__post_init__(**kwargs)
        if self.deploy_encoder not in SOURCES:
            raise ValueError(f"deploy_encoder must be one of {SOURCES}, got {self.deploy_encoder!r}")
        if self.window_size < 2 or self.prediction_horizon < 1:
            raise ValueError(
                f"window_size ({self.window_size}) must be >= 2 and prediction_horizon ({self.prediction_horizon}) >= 1"
            )
        if self.trajectory_length < self.window_size + self.prediction_horizon:
            raise ConfigFieldError(
                f"trajectory_length {self.trajectory_length} is shorter than window_size + prediction_horizon "
                f"({self.window_size + self.prediction_horizon}); lower them or use longer trajectories",
                "trajectory_length",
                self.window_size + self.prediction_horizon,
            )
        if self.sampling_interval is not None and not self.sampling_interval > 0:
            raise ConfigFieldError(
                f"sampling_interval must be positive, got {self.sampling_interval}", "sampling_interval", "null"
            )
        if self.probe_windows_per_trajectory < 1:
            raise ConfigFieldError(
                f"probe_windows_per_trajectory must be >= 1, got {self.probe_windows_per_trajectory}",
                "probe_windows_per_trajectory",
                2,
            )

    @property
    def min_series_length(self) -> int:
        """Steps a series needs for one context window plus the predicted future windows."""
        return self.window_size + self.prediction_horizon
