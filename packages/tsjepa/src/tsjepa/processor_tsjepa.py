"""Raw multichannel series → checked, standardised float tensors: `TimeSeriesJepaProcessor`, a transformers
feature extractor whose per-channel statistics are fitted on the train split and saved in
`preprocessor_config.json` with every run."""

from pathlib import Path

import numpy as np
import torch
from jepa_core.overrides import ConfigFieldError
from transformers.feature_extraction_utils import BatchFeature, FeatureExtractionMixin


def check_series(
    series: np.ndarray, num_channels: int, min_length: int, name: str = "series", training: bool = True
) -> np.ndarray:
    """Validate trajectories shaped (N, channels, time); returns them as float32.

    `training`: the data will train a model (a wrong channel count is then fixed by the config field
    `num_channels`, and the length must cover a window and the prediction horizon); else the input of a trained
    model, which needs one window.
    """
    series = np.asarray(series)
    if series.ndim != 3:
        raise ValueError(f"{name} must be shaped (trajectories, channels, time), got shape {series.shape}")
    if series.shape[1] != num_channels and not training:
        raise ValueError(f"{name} has {series.shape[1]} channels but the model was trained on {num_channels}")
    if series.shape[1] != num_channels:
        raise ConfigFieldError(
            f"{name} has {series.shape[1]} channels but the model expects {num_channels} (declare the channel "
            "columns, or size the model for the data)",
            "num_channels",
            series.shape[1],
        )
    if series.shape[2] < min_length:
        raise ValueError(
            f"{name} has {series.shape[2]} time steps but needs at least {min_length} "
            + (
                "(window_size + prediction_horizon); record longer series or lower them in the config"
                if training
                else "(the encoder's window_size)"
            )
        )
    if not np.issubdtype(series.dtype, np.number):
        raise ValueError(f"{name} must hold numbers, got dtype {series.dtype}")
    bad = ~np.isfinite(series)
    if bad.any():
        trajectory, channel, step = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} has {int(bad.sum())} NaN/infinite readings (first: trajectory {trajectory}, channel {channel}, "
            f"step {step}); interpolate or drop them first"
        )
    return series.astype(np.float32)


def check_commands(commands: np.ndarray, series: np.ndarray, num_commands: int) -> np.ndarray:
    """Commands (N, time) or (N, num_commands, time) aligned with series; returns (N, num_commands, time)."""
    commands = np.asarray(commands, dtype=np.float32)
    if commands.ndim == 2:
        commands = commands[:, None, :]
    expected = (series.shape[0], num_commands, series.shape[2])
    if commands.shape != expected:
        if commands.ndim == 3 and commands.shape[0::2] == expected[0::2]:
            raise ConfigFieldError(
                f"commands have {commands.shape[1]} channels but the model expects {num_commands}",
                "num_commands",
                commands.shape[1],
            )
        raise ValueError(f"commands must be shaped {expected} to match the series, got {commands.shape}")
    if not np.isfinite(commands).all():
        raise ValueError("commands have NaN or infinite values; fill them before training")
    return commands


def _vector(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float32).reshape(-1)
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    return array


def _stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return standardisation(values.mean(axis=(0, 2)), values.std(axis=(0, 2)))


def standardisation(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std as the processor keeps them: float32, a constant channel's std (≤ 1e-8) as 1."""
    return mean.astype(np.float32), np.where(std > 1e-8, std, 1.0).astype(np.float32)


class TimeSeriesJepaProcessor(FeatureExtractionMixin):
    """Per-channel z-scoring of sensor readings (and of commands: the paper z-scores them), fitted on train data.

    `processor(series, return_tensors="pt")` takes one series (channels, time) or a batch (N, channels, time) as a
    numpy array, tensor, nested list, a list of such series (a `datasets` column) or the path of a `.npy` / `.npz`
    file (`series` array), checks it and returns `{"series": (N, channels, time) float32}` — the encoder's input
    (`model(**inputs)` embeds the last `window_size` steps). `normalize_commands` / `physical_commands` convert
    commands (the predictor's and the semantic actor's units) both ways. Frames (`observation="frames"`) keep their
    [0, 1] pixels: their channel statistics are 0 and 1.
    """

    model_input_names = ["series"]

    def __init__(
        self,
        channel_mean=(0.0, 0.0, 0.0, 0.0),
        channel_std=(1.0, 1.0, 1.0, 1.0),
        command_mean=(0.0,),
        command_std=(1.0,),
        window_size: int = 16,
        channel_names: list[str] | None = None,
        command_names: list[str] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.channel_mean = _vector(channel_mean, "channel_mean")
        self.channel_std = _vector(channel_std, "channel_std")
        self.command_mean = _vector(command_mean, "command_mean")
        self.command_std = _vector(command_std, "command_std")
        if self.channel_mean.shape != self.channel_std.shape or self.command_mean.shape != self.command_std.shape:
            raise ValueError("channel_mean/channel_std and command_mean/command_std must have equal lengths")
        if (self.channel_std <= 0).any() or (self.command_std <= 0).any():
            raise ValueError("channel_std and command_std must be positive")
        self.window_size = int(window_size)
        # the columns the statistics belong to (user tables; None for the simulator and unnamed arrays)
        self.channel_names = list(channel_names) if channel_names is not None else None
        self.command_names = list(command_names) if command_names is not None else None
        for names, size, what in ((self.channel_names, len(self.channel_mean), "channel_names"),
                                  (self.command_names, len(self.command_mean), "command_names")):  # fmt: skip
            if names is not None and len(names) != size:
                raise ValueError(f"{what} has {len(names)} names for {size} statistics")

    @classmethod
    def fit(
        cls,
        series: np.ndarray,
        commands: np.ndarray,
        standardize_series: bool = True,
        window_size: int = 16,
        **names,
    ) -> "TimeSeriesJepaProcessor":
        """Statistics of train series (N, C, T) and commands (N, K, T); frames keep their pixels
        (`standardize_series=False`); `names`: `channel_names` / `command_names` of the columns."""
        series = np.asarray(series, dtype=np.float64)
        if standardize_series:
            channels = _stats(series)
        else:
            channels = (np.zeros(series.shape[1], np.float32), np.ones(series.shape[1], np.float32))
        return cls(*channels, *_stats(np.asarray(commands, dtype=np.float64)), window_size=window_size, **names)

    @property
    def num_channels(self) -> int:
        return len(self.channel_mean)

    @property
    def num_commands(self) -> int:
        return len(self.command_mean)

    def normalize_series(self, series: np.ndarray) -> np.ndarray:
        """Raw series (..., C, T) → standardised float32."""
        return ((series - self.channel_mean[:, None]) / self.channel_std[:, None]).astype(np.float32)

    def normalize_commands(self, commands: np.ndarray) -> np.ndarray:
        """Raw commands (..., K, T) → standardised float32."""
        return ((commands - self.command_mean[:, None]) / self.command_std[:, None]).astype(np.float32)

    def physical_commands(self, commands: np.ndarray) -> np.ndarray:
        """Standardised commands (..., num_commands) back to physical units."""
        return commands * self.command_std + self.command_mean

    def _read(self, raw) -> np.ndarray:
        if isinstance(raw, str | Path):
            path = Path(raw)
            if path.suffix == ".npy":
                return np.load(path, allow_pickle=False)
            if path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as archive:
                    if "series" not in archive:
                        raise ValueError(f"{path} has no 'series' array (found {archive.files})")
                    return archive["series"]
            raise ValueError(f"{path}: the processor reads .npy / .npz series; load tables with the package's loaders")
        if isinstance(raw, torch.Tensor):
            return raw.detach().cpu().numpy()
        if isinstance(raw, list | tuple) and raw and not np.isscalar(raw[0]):
            return np.stack([self._read(item) for item in raw])
        return np.asarray(raw)

    def __call__(self, series, return_tensors: str | None = "pt", **kwargs) -> BatchFeature:
        """One series (C, T) or a batch (N, C, T) of raw readings → `{"series": (N, C, T)}` standardised."""
        values = self._read(series)
        if values.ndim == 2:
            values = values[None]
        values = check_series(values, self.num_channels, self.window_size, training=False)
        return BatchFeature({"series": self.normalize_series(values)}, tensor_type=return_tensors)
