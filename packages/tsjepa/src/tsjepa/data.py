"""Data: the embedded simulated cart-pole set, and loaders for CSV / Parquet / NumPy time series.

A sample is one trajectory: `series` (C, T) standardised readings, `commands` (K, T) standardised applied commands,
optionally `expert_commands` (K, T) and `labels` (plant class). The collator picks the anchor step, so one epoch
visits each trajectory `anchors_per_trajectory` times (the number of possible anchors).
"""

import functools
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .cartpole import render_series, simulate
from .configuration_tsjepa import TimeSeriesJepaConfig
from .processor_tsjepa import Normalizer, check_commands, check_series

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
NUMPY_SUFFIXES = (".npz", ".npy")
SPLITS = ("train", "test")


class TrajectoryDataset(Dataset):
    """Standardised trajectories; item i is trajectory i mod N (so the trainer sees several anchors per epoch)."""

    def __init__(self, tensors: dict[str, torch.Tensor], normalizer: Normalizer, anchors_per_trajectory: int = 1):
        self.tensors, self.normalizer = tensors, normalizer
        self.num_trajectories = len(tensors["series"])
        self.anchors_per_trajectory = max(1, anchors_per_trajectory)

    def __len__(self) -> int:
        return self.num_trajectories * self.anchors_per_trajectory

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index %= self.num_trajectories
        return {name: values[index] for name, values in self.tensors.items()}


def build_dataset(
    series: np.ndarray,
    commands: np.ndarray | None,
    labels: np.ndarray | None,
    config: TimeSeriesJepaConfig,
    normalizer: Normalizer | None = None,
    expert_commands: np.ndarray | None = None,
) -> TrajectoryDataset:
    """Check and standardise raw arrays (normalizer fitted on them unless given) into a dataset."""
    series = check_series(series, config.num_channels, config.min_series_length)
    if commands is None:  # no commands recorded: the predictor is then conditioned on zeros
        commands = np.zeros((series.shape[0], config.num_commands, series.shape[2]), dtype=np.float32)
    commands = check_commands(commands, series, config.num_commands)
    normalizer = normalizer or Normalizer.fit(series, commands, config.observation == "sensors")
    tensors = {
        "series": torch.from_numpy(normalizer.series(series)),
        "commands": torch.from_numpy(normalizer.commands(commands)),
    }
    if expert_commands is not None:
        expert = check_commands(expert_commands, series, config.num_commands)
        tensors["expert_commands"] = torch.from_numpy(normalizer.commands(expert))
    if labels is not None:
        labels = np.asarray(labels)
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integer class ids, got dtype {labels.dtype}; encode them first")
        if labels.shape != (series.shape[0],):
            raise ValueError(f"labels must have one value per trajectory ({series.shape[0]}), got {labels.shape}")
        tensors["labels"] = torch.as_tensor(labels, dtype=torch.long)
    anchors = series.shape[2] - config.min_series_length + 1
    return TrajectoryDataset(tensors, normalizer, anchors)


@functools.lru_cache(maxsize=8)
def _simulated(count: int, length: int, half_lengths: tuple[float, ...], seed: int, noise: float):
    return simulate(count, length, list(half_lengths), seed, command_noise=noise)


@functools.lru_cache(maxsize=4)
def _frames(height: int, width: int, *simulation):
    runs = _simulated(*simulation)
    return render_series(runs.states, runs.half_lengths, height, width)


def _simulation(split: str, config: TimeSeriesJepaConfig) -> tuple:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    count = config.num_train_trajectories if split == "train" else config.num_test_trajectories
    seed = config.data_seed * 2 + (split == "test")  # train and test use different seeds
    return count, config.trajectory_length, tuple(config.pole_half_lengths), seed, config.command_noise


def simulated_split(split: str, config: TimeSeriesJepaConfig):
    """The raw simulated trajectories of a split (cached)."""
    return _simulated(*_simulation(split, config))


def simulated_observations(split: str, config: TimeSeriesJepaConfig) -> np.ndarray:
    """What the devices observe (cached): noisy sensor readings (N, 4, T) or rendered frames (N, H × W, T)."""
    if config.observation == "sensors":
        return simulated_split(split, config).sensors
    return _frames(config.frame_height, config.frame_width, *_simulation(split, config))


def default_normalizer(config: TimeSeriesJepaConfig) -> Normalizer:
    train = simulated_split("train", config)
    return Normalizer.fit(
        simulated_observations("train", config), train.commands[:, None], config.observation == "sensors"
    )


def default_dataset(split: str, config: TimeSeriesJepaConfig) -> TrajectoryDataset:
    """Embedded data: parallel cart-poles under the LQR expert (+ exploration), label = pole-length class; the
    series are sensor readings or rendered frames per `config.observation`."""
    runs = simulated_split(split, config)
    series = simulated_observations(split, config)
    return build_dataset(series, runs.commands, runs.labels, config, default_normalizer(config), runs.expert_commands)


def _table(path: Path):
    import pandas as pd

    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def read_table(path: Path, config: TimeSeriesJepaConfig) -> dict[str, np.ndarray | None]:
    """A CSV / Parquet file with one row per time step → arrays of equal-length episodes.

    Columns: `time_column` (sorted, strictly increasing within an episode), `channel_columns`, optionally
    `command_columns`, `episode_column` (without it the file is one series cut into `trajectory_length` pieces)
    and `label_column` (one value per episode).
    """
    frame = _table(path)
    missing = [c for c in [config.time_column, *config.channel_columns] if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path} has no column(s) {missing} (found {list(frame.columns)}); declare time_column and "
            "channel_columns in the config"
        )
    has_episodes = config.episode_column in frame.columns
    groups = frame.groupby(config.episode_column, sort=True) if has_episodes else [(0, frame)]
    series, commands, labels = [], [], []
    has_commands = all(c in frame.columns for c in config.command_columns)
    has_labels = config.label_column in frame.columns
    for episode, rows in groups:
        times = rows[config.time_column].to_numpy()
        if np.any(np.diff(times) <= 0):
            raise ValueError(
                f"{path}: time column {config.time_column!r} is not strictly increasing in episode {episode}"
            )
        values = rows[config.channel_columns].to_numpy(dtype=np.float64).T
        series.append(values)
        commands.append(rows[config.command_columns].to_numpy(dtype=np.float64).T if has_commands else None)
        labels.append(rows[config.label_column].iloc[0] if has_labels else None)
    if not has_episodes:
        length = config.trajectory_length
        count = series[0].shape[1] // length
        if count == 0:
            raise ValueError(
                f"{path} has {series[0].shape[1]} rows, fewer than trajectory_length={length}; record a longer series"
            )
        series = [series[0][:, i * length : (i + 1) * length] for i in range(count)]
        commands = [commands[0][:, i * length : (i + 1) * length] if has_commands else None for i in range(count)]
        labels = labels * count
    lengths = {s.shape[1] for s in series}
    if len(lengths) > 1:
        shortest = min(lengths)
        series = [s[:, :shortest] for s in series]
        commands = [c[:, :shortest] if c is not None else None for c in commands]
    return {
        "series": np.stack(series),
        "commands": np.stack(commands) if has_commands else None,
        "labels": np.asarray(labels) if has_labels else None,
    }


def read_numpy(path: Path) -> dict[str, np.ndarray | None]:
    """.npy of series (N, C, T) or (C, T); .npz with `series` and optional `commands`, `labels`."""
    if path.suffix == ".npy":
        series = np.load(path, allow_pickle=False)
        return {"series": series[None] if series.ndim == 2 else series, "commands": None, "labels": None}
    with np.load(path, allow_pickle=False) as archive:
        if "series" not in archive:
            raise ValueError(f"{path} has no 'series' array (found {archive.files}); save it with np.savez(series=...)")
        series = archive["series"]
        return {
            "series": series[None] if series.ndim == 2 else series,
            "commands": archive.get("commands"),
            "labels": archive.get("labels"),
        }


def read_arrays(path: Path, config: TimeSeriesJepaConfig) -> dict[str, np.ndarray | None]:
    if path.suffix in TABLE_SUFFIXES:
        return read_table(path, config)
    if path.suffix in NUMPY_SUFFIXES:
        return read_numpy(path)
    raise ValueError(f"{path}: unsupported format {path.suffix!r}; use one of {TABLE_SUFFIXES + NUMPY_SUFFIXES}")


def _split_file(path: Path) -> dict[str, Path]:
    found = {
        split: next((p for p in sorted(path.glob(f"{split}.*")) if p.suffix in TABLE_SUFFIXES + NUMPY_SUFFIXES), None)
        for split in SPLITS
    }
    if found["train"] is None:
        raise FileNotFoundError(f"{path} holds no train.csv / train.parquet / train.npz / train.npy")
    return found


def load_arrays(path: str, split: str, config: TimeSeriesJepaConfig):
    """(arrays of `split`, arrays of the train split) from a file (last `test_fraction` of episodes = test) or a
    folder with `train.*` and optionally `test.*`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if root.is_dir():
        files = _split_file(root)
        train = read_arrays(files["train"], config)
        if files["test"] is not None:
            return (train if split == "train" else read_arrays(files["test"], config)), train
        arrays = train
    else:
        arrays = read_arrays(root, config)
    count = len(arrays["series"])
    cut = count - int(round(count * config.test_fraction)) if count > 1 else count
    pick = slice(0, cut) if split == "train" else slice(cut, count)
    train = {k: (v[:cut] if v is not None else None) for k, v in arrays.items()}
    chosen = {k: (v[pick] if v is not None else None) for k, v in arrays.items()}
    if len(chosen["series"]) == 0:
        raise ValueError(f"{path}: the {split} split is empty; add episodes or change test_fraction")
    return chosen, train


def load_dataset(path: str, split: str, config: TimeSeriesJepaConfig) -> TrajectoryDataset:
    """A split of user data as a dataset, standardised with statistics of its train split."""
    arrays, train = load_arrays(path, split, config)
    train_series = check_series(train["series"], config.num_channels, config.min_series_length, "train series")
    train_commands = (
        np.zeros((len(train_series), config.num_commands, train_series.shape[2]), dtype=np.float32)
        if train["commands"] is None
        else check_commands(train["commands"], train_series, config.num_commands)
    )
    normalizer = Normalizer.fit(train_series, train_commands, config.observation == "sensors")
    return build_dataset(arrays["series"], arrays["commands"], arrays["labels"], config, normalizer)
