"""Raw multichannel series → checked, standardised float tensors (the statistics come from the train split)."""

from dataclasses import dataclass

import numpy as np


def check_series(series: np.ndarray, num_channels: int, min_length: int, name: str = "series") -> np.ndarray:
    """Validate trajectories shaped (N, channels, time); returns them as float32."""
    series = np.asarray(series)
    if series.ndim != 3:
        raise ValueError(f"{name} must be shaped (trajectories, channels, time), got shape {series.shape}")
    if series.shape[1] != num_channels:
        raise ValueError(
            f"{name} has {series.shape[1]} channels but the model expects {num_channels}; "
            "declare the channel columns or set num_channels in the config"
        )
    if series.shape[2] < min_length:
        raise ValueError(
            f"{name} has {series.shape[2]} time steps but needs at least {min_length} "
            "(window_size + prediction_horizon); record longer series or lower them in the config"
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
        raise ValueError(f"commands must be shaped {expected} to match the series, got {commands.shape}")
    if not np.isfinite(commands).all():
        raise ValueError("commands have NaN or infinite values; fill them before training")
    return commands


@dataclass
class Normalizer:
    """Per-channel z-scoring of sensor readings and commands (the paper z-scores commands)."""

    channel_mean: np.ndarray
    channel_std: np.ndarray
    command_mean: np.ndarray
    command_std: np.ndarray

    @classmethod
    def fit(cls, series: np.ndarray, commands: np.ndarray, standardize_series: bool = True) -> "Normalizer":
        """Statistics from the train split; frames keep their [0, 1] pixels (`standardize_series=False`)."""

        def stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            mean, std = values.mean(axis=(0, 2)), values.std(axis=(0, 2))
            return mean.astype(np.float32), np.where(std > 1e-8, std, 1.0).astype(np.float32)

        channels = (
            stats(series)
            if standardize_series
            else (np.zeros(series.shape[1], np.float32), np.ones(series.shape[1], np.float32))
        )
        return cls(*channels, *stats(commands))

    def series(self, series: np.ndarray) -> np.ndarray:
        return ((series - self.channel_mean[:, None]) / self.channel_std[:, None]).astype(np.float32)

    def commands(self, commands: np.ndarray) -> np.ndarray:
        return ((commands - self.command_mean[:, None]) / self.command_std[:, None]).astype(np.float32)

    def physical_commands(self, commands: np.ndarray) -> np.ndarray:
        """Standardised commands (..., num_commands) back to physical units."""
        return commands * self.command_std + self.command_mean
