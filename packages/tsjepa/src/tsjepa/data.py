"""Data: the embedded simulated cart-pole set, and loaders for CSV / Parquet / NumPy time series.

A sample is one trajectory: `series` (C, T) standardised readings, `commands` (K, T) standardised applied commands,
optionally `expert_commands` (K, T) and `labels` (plant class). The collator picks the anchor step, so one epoch of
the train split visits each trajectory `anchors_per_trajectory` times (the number of possible anchors); the test
and "all" splits hold each trajectory once. Every split is standardised by a `TimeSeriesJepaProcessor`: the train
split fits one (and carries it as `.processor`) unless it is given one; the others use the one they are given.
"""

import copy
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from jepa_core.data_checks import BadFile, BadFilesError, finite, first_problem, long_enough
from jepa_core.overrides import ConfigFieldError
from jepa_core.windows import window_starts
from torch.utils.data import Dataset

from .cartpole import render_series, simulate
from .configuration_tsjepa import TimeSeriesJepaConfig
from .processor_tsjepa import TimeSeriesJepaProcessor, check_commands, check_series

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
NUMPY_SUFFIXES = (".npz", ".npy")
SPLITS = ("train", "test", "all")
logger = logging.getLogger(__name__)


class TrajectoryDataset(Dataset):
    """Standardised trajectories; item i is trajectory i mod N (so the trainer sees several anchors per epoch).

    `labels` (N,) plant classes or None, `class_names`, `ids` (one per trajectory), `processor` (what standardised
    them), `split`, `has_commands` (False when the data recorded no commands: they are zeros then) and `simulated`
    (the embedded cart-poles, which the closed-loop control evaluation can re-run).
    """

    def __init__(
        self,
        tensors: dict[str, torch.Tensor],
        processor: TimeSeriesJepaProcessor,
        anchors_per_trajectory: int = 1,
        *,
        split: str = "train",
        ids: list[str] | None = None,
        class_names: list[str] | None = None,
        has_commands: bool = True,
        simulated: bool = False,
    ):
        self.tensors, self.processor = tensors, processor
        self.num_trajectories = len(tensors["series"])
        self.anchors_per_trajectory = max(1, anchors_per_trajectory)
        self.split, self.class_names = split, class_names
        self.ids = ids if ids is not None else [str(i) for i in range(self.num_trajectories)]
        self.has_commands, self.simulated = has_commands, simulated

    @property
    def labels(self) -> torch.Tensor | None:
        return self.tensors.get("labels")

    def __len__(self) -> int:
        return self.num_trajectories * self.anchors_per_trajectory

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index %= self.num_trajectories
        return {name: values[index] for name, values in self.tensors.items()}


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def zero_commands(series: np.ndarray, config: TimeSeriesJepaConfig) -> np.ndarray:
    return np.zeros((series.shape[0], config.num_commands, series.shape[2]), dtype=np.float32)


def fit_processor(series: np.ndarray, commands: np.ndarray | None, config: TimeSeriesJepaConfig):
    """A processor fitted on train series (and commands; zeros when none were recorded)."""
    series = check_series(series, config.num_channels, config.min_series_length, "train series")
    commands = (
        zero_commands(series, config) if commands is None else check_commands(commands, series, config.num_commands)
    )
    return TimeSeriesJepaProcessor.fit(series, commands, config.observation == "sensors", config.window_size)


def check_processor(processor: TimeSeriesJepaProcessor, config: TimeSeriesJepaConfig) -> None:
    if processor.num_channels != config.num_channels or processor.num_commands != config.num_commands:
        raise ValueError(
            f"the processor standardises {processor.num_channels} channels and {processor.num_commands} commands, "
            f"the model takes {config.num_channels} and {config.num_commands}; use the processor saved with the model"
        )


def build_dataset(
    series: np.ndarray,
    commands: np.ndarray | None,
    labels: np.ndarray | None,
    config: TimeSeriesJepaConfig,
    processor: TimeSeriesJepaProcessor | None = None,
    expert_commands: np.ndarray | None = None,
    *,
    split: str = "train",
    ids: list[str] | None = None,
    class_names: list[str] | None = None,
    simulated: bool = False,
    min_length: int | None = None,
) -> TrajectoryDataset:
    """Check and standardise raw arrays (processor fitted on them unless given) into a data set of `split`;
    series need `min_length` steps (default: a window plus the prediction horizon)."""
    check_split(split)
    series = check_series(series, config.num_channels, min_length or config.min_series_length)
    has_commands = commands is not None
    if commands is None:  # no commands recorded: the predictor is then conditioned on zeros
        commands = zero_commands(series, config)
    commands = check_commands(commands, series, config.num_commands)
    if processor is None:
        processor = TimeSeriesJepaProcessor.fit(series, commands, config.observation == "sensors", config.window_size)
    check_processor(processor, config)
    tensors = {
        "series": torch.from_numpy(processor.normalize_series(series)),
        "commands": torch.from_numpy(processor.normalize_commands(commands)),
    }
    if expert_commands is not None:
        expert = check_commands(expert_commands, series, config.num_commands)
        tensors["expert_commands"] = torch.from_numpy(processor.normalize_commands(expert))
    if labels is not None:
        labels = np.asarray(labels)
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integer class ids, got dtype {labels.dtype}; encode them first")
        if labels.shape != (series.shape[0],):
            raise ValueError(f"labels must have one value per trajectory ({series.shape[0]}), got {labels.shape}")
        tensors["labels"] = torch.as_tensor(labels, dtype=torch.long)
    if ids is not None and len(ids) != series.shape[0]:
        raise ValueError(f"ids must have one value per trajectory ({series.shape[0]}), got {len(ids)}")
    anchors = series.shape[2] - config.min_series_length + 1 if split == "train" else 1
    return TrajectoryDataset(
        tensors, processor, anchors, split=split, ids=ids, class_names=class_names, has_commands=has_commands,
        simulated=simulated,
    )  # fmt: skip


@functools.lru_cache(maxsize=8)
def _simulated(count: int, length: int, half_lengths: tuple[float, ...], seed: int, noise: float):
    return simulate(count, length, list(half_lengths), seed, command_noise=noise)


@functools.lru_cache(maxsize=4)
def _frames(height: int, width: int, *simulation):
    runs = _simulated(*simulation)
    return render_series(runs.states, runs.half_lengths, height, width)


def _simulation(split: str, config: TimeSeriesJepaConfig) -> tuple:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    count = config.num_train_trajectories if split == "train" else config.num_test_trajectories
    seed = config.data_seed * 2 + (split == "test")  # train and test use different seeds
    return count, config.trajectory_length, tuple(config.pole_half_lengths), seed, config.command_noise


def simulated_split(split: str, config: TimeSeriesJepaConfig):
    """The raw simulated trajectories of the train or test split (cached)."""
    return _simulated(*_simulation(split, config))


def simulated_observations(split: str, config: TimeSeriesJepaConfig) -> np.ndarray:
    """What the devices observe (cached): noisy sensor readings (N, 4, T) or rendered frames (N, H × W, T)."""
    if config.observation == "sensors":
        return simulated_split(split, config).sensors
    return _frames(config.frame_height, config.frame_width, *_simulation(split, config))


def default_processor(config: TimeSeriesJepaConfig) -> TimeSeriesJepaProcessor:
    """The processor fitted on the embedded train split."""
    train = simulated_split("train", config)
    return fit_processor(simulated_observations("train", config), train.commands[:, None], config)


def pole_class_names(config: TimeSeriesJepaConfig) -> list[str]:
    return [f"pole half-length {length:g} m" for length in config.pole_half_lengths]


def default_dataset(
    split: str, config: TimeSeriesJepaConfig, processor: TimeSeriesJepaProcessor | None = None
) -> TrajectoryDataset:
    """Embedded data: parallel cart-poles under the LQR expert (+ exploration), label = pole-length class; the
    series are sensor readings or rendered frames per `config.observation`. "all" = the train then the test
    trajectories (ids `train-i`, `test-i`)."""
    check_split(split)
    processor = processor or default_processor(config)
    parts = ("train", "test") if split == "all" else (split,)
    runs = [simulated_split(part, config) for part in parts]

    def joined(values: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(values) if len(values) > 1 else values[0]

    return build_dataset(
        joined([simulated_observations(part, config) for part in parts]),
        joined([r.commands for r in runs]),
        joined([r.labels for r in runs]),
        config,
        processor,
        joined([r.expert_commands for r in runs]),
        split=split,
        ids=[f"{part}-{i}" for part, r in zip(parts, runs, strict=True) for i in range(len(r.labels))],
        class_names=pole_class_names(config),
        simulated=True,
    )


# ---------------------------------------------------------------------------------------------------------------
# User files. Every file of the data set is read once (the pre-check): unreadable files and unusable episodes
# (too short, NaN readings, rows that disagree on the label, repeated time stamps, other columns than the rest)
# are listed together, then stop the run or are left out (`--set on_bad_file=skip`). Episodes keep their own
# lengths: they are cut into overlapping pieces that together hold every anchor step (train / test), or into
# strided windows (`all`, what `jepa embed` writes), so no episode is truncated to the shortest one.


@dataclass
class Episode:
    """One episode as read: raw `series` (C, T), `commands` (K, T) or None, `label` (one value) or None,
    `times` (T,) in the time column's unit (seconds for date-times) or None. Once the pre-check has passed it,
    its values are dropped (`series` None) and it keeps where it is: `path` and `position` among the file's
    episodes, its `length` and whether it `has_commands`."""

    id: str
    series: np.ndarray | None
    commands: np.ndarray | None = None
    label: object = None
    times: np.ndarray | None = None
    problem: str | None = None
    path: Path | None = None
    position: int = 0
    length: int = 0
    has_commands: bool = False

    def forget_values(self, path: Path, position: int) -> None:
        self.path, self.position, self.length = path, position, self.series.shape[1]
        self.has_commands, self.series, self.commands, self.times = self.commands is not None, None, None, None


@dataclass
class FileData:
    path: Path
    episodes: list[Episode]
    channels: list[str]
    commands: list[str] | None
    has_labels: bool


class BadEpisodesError(BadFilesError):
    """Bad files and bad episodes (`path [episode id]`), listed together."""

    def __init__(self, bad: list[BadFile], files: int, episodes: int):
        super().__init__(bad, files)
        text = str(self).split("\n", 1)[1]
        self.args = (
            f"{len(bad)} unusable files or episodes (of {files} files, {episodes} episodes) cannot be used:\n{text}",
        )


def _table(path: Path):
    import pandas as pd

    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def _missing(value) -> bool:
    try:
        return bool(np.isnan(value))
    except TypeError:
        return value is None


def episode_label(values: np.ndarray) -> tuple[object, str | None]:
    """The label of an episode from its rows' labels: their one non-missing value (per-episode labels may be on
    every row or only on some); rows that disagree are a problem, not the first row's value."""
    present = [v for v in values if not _missing(v)]
    distinct = sorted({v.item() if isinstance(v, np.generic) else v for v in present}, key=str)
    if not distinct:
        return None, "no label on any row"
    if len(distinct) > 1:
        shown = ", ".join(map(str, distinct[:5])) + (" …" if len(distinct) > 5 else "")
        return None, f"its rows disagree on the label ({shown}); one label per episode is needed"
    return distinct[0], None


def _times(column) -> np.ndarray:
    """A time column as float steps: numbers as they are, date-times / timestamps in seconds."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64)
    stamps = pd.to_datetime(column)
    return (stamps - stamps.min()).dt.total_seconds().to_numpy(dtype=np.float64)


def _resolve_columns(frame, path: Path, config: TimeSeriesJepaConfig, trained: bool):
    """(channel columns, command columns or None, has labels) of a table, by name."""
    import pandas as pd

    columns = [str(c) for c in frame.columns]
    fix = ValueError if trained else ConfigFieldError

    def require(names: list[str], field: str) -> None:
        missing = [c for c in names if c not in columns]
        if not missing:
            return
        if trained:  # evaluate / embed: the run's columns are fixed
            raise ValueError(f"{path} has no column(s) {missing} (found {columns}); the run was trained on {names}")
        raise ConfigFieldError(f"{path} has no column(s) {missing} (found {columns})", field, ["COLUMN"])

    commands = config.command_columns
    if commands is not None:
        require(commands, "command_columns")
    elif "force" in columns:
        commands = ["force"]
    if config.label_column not in columns and config.label_column != "label" and not trained:
        raise fix(f"{path} has no label column {config.label_column!r} (found {columns})", "label_column", "label")
    reserved = {config.time_column, config.episode_column, config.label_column, *(commands or [])}
    if config.channel_columns is not None:
        require(config.channel_columns, "channel_columns")
        channels = list(config.channel_columns)
    else:
        numeric = [c for c in columns if pd.api.types.is_numeric_dtype(frame[c])]
        channels = [c for c in numeric if c not in reserved and not pd.api.types.is_bool_dtype(frame[c])]
        if not channels:
            raise ConfigFieldError(
                f"{path} has no numeric channel column (found {columns})", "channel_columns", "COLUMN"
            )
    bad = [c for c in channels if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise ValueError(f"{path}: channel column(s) {bad} do not hold numbers")
    return channels, commands, config.label_column in columns


def read_table(path: Path, config: TimeSeriesJepaConfig, trained: bool = False) -> FileData:
    """A CSV / Parquet file with one row per time step → its episodes.

    Columns, by name: `time_column` (numbers or date-times; rows are sorted by it within an episode; null: the
    file's row order), `channel_columns` (default: every other numeric column), optional `command_columns`,
    `episode_column` (without it the file is one episode) and `label_column` (per row or per episode: an
    episode's label is its rows' single non-missing value).
    """
    frame = _table(path)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if config.time_column is not None and config.time_column not in columns:
        raise ConfigFieldError(
            f"{path} has no time column {config.time_column!r} (found {columns}); name it, or pass null to take the "
            "rows in file order",
            "time_column",
            columns[0],
        )
    channels, commands, has_labels = _resolve_columns(frame, path, config, trained)
    has_episodes = config.episode_column in columns
    groups = frame.groupby(config.episode_column, sort=True) if has_episodes else [(path.stem, frame)]
    episodes = []
    for name, rows in groups:
        episode = Episode(str(name), np.empty(0))
        if config.time_column is not None:
            times = _times(rows[config.time_column])
            order = np.argsort(times, kind="stable")
            rows, times = rows.iloc[order], times[order]
            episode.times = times
            if np.any(np.diff(times) == 0):
                episode.problem = f"time column {config.time_column!r} repeats a time stamp"
        episode.series = rows[channels].to_numpy(dtype=np.float64).T
        if commands is not None:
            episode.commands = rows[commands].to_numpy(dtype=np.float64).T
        if has_labels:
            episode.label, problem = episode_label(rows[config.label_column].to_numpy())
            episode.problem = episode.problem or problem
        episodes.append(episode)
    return FileData(path, episodes, channels, commands, has_labels)


def read_numpy(path: Path) -> FileData:
    """.npy of series (N, C, T) or (C, T); .npz with `series` and optional `commands` (N, T) / (N, K, T) and
    `labels` (N,) per episode or (N, T) per step."""
    if path.suffix == ".npy":
        series, commands, labels = np.load(path, allow_pickle=False), None, None
    else:
        with np.load(path, allow_pickle=False) as archive:
            if "series" not in archive:
                raise ValueError(f"no 'series' array (found {archive.files}); save it with np.savez(series=...)")
            series, commands, labels = archive["series"], archive.get("commands"), archive.get("labels")
    series = series[None] if series.ndim == 2 else series
    if series.ndim != 3 or not np.issubdtype(series.dtype, np.number):
        raise ValueError(
            f"'series' must be numbers shaped (episodes, channels, time), got {series.dtype} {series.shape}"
        )
    if commands is not None:
        commands = commands[:, None] if commands.ndim == 2 else commands
        if commands.shape[0::2] != series.shape[0::2]:
            raise ValueError(f"'commands' {commands.shape} do not match 'series' {series.shape}")
    if labels is not None and (labels.shape[0] != len(series) or labels.ndim > 2):
        raise ValueError(f"'labels' must be shaped ({len(series)},) or ({len(series)}, time), got {labels.shape}")
    episodes = []
    for i in range(len(series)):
        episode = Episode(str(i), series[i].astype(np.float64), None if commands is None else commands[i])
        if labels is not None:
            episode.label, episode.problem = episode_label(np.atleast_1d(labels[i]))
        episodes.append(episode)
    channels = [f"channel_{c}" for c in range(series.shape[1])]
    names = None if commands is None else [f"command_{k}" for k in range(commands.shape[1])]
    return FileData(path, episodes, channels, names, labels is not None)


def read_file(path: Path, config: TimeSeriesJepaConfig, trained: bool = False) -> FileData:
    if path.suffix in TABLE_SUFFIXES:
        return read_table(path, config, trained)
    if path.suffix in NUMPY_SUFFIXES:
        return read_numpy(path)
    raise ValueError(f"{path}: unsupported format {path.suffix!r}; use one of {TABLE_SUFFIXES + NUMPY_SUFFIXES}")


def data_files(path: str) -> tuple[list[Path], bool]:
    """(files, whether they are a train file and maybe a test file): one file, a folder with `train.*` (and
    `test.*`), or a folder of data files (their episodes in file-name order)."""
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{path} does not exist")
    formats = TABLE_SUFFIXES + NUMPY_SUFFIXES
    if not root.is_dir():
        if root.suffix not in formats:
            raise ValueError(f"{path}: unsupported format {root.suffix!r}; use one of {formats}")
        return [root], False
    usable = [p for p in sorted(root.iterdir()) if p.is_file() and p.suffix in TABLE_SUFFIXES + NUMPY_SUFFIXES]
    named = {split: next((p for p in usable if p.stem == split), None) for split in ("train", "test")}
    if named["train"] is not None:
        return [p for p in (named["train"], named["test"]) if p is not None], True
    if not usable:
        raise FileNotFoundError(f"{path} holds no {' / '.join(TABLE_SUFFIXES + NUMPY_SUFFIXES)} file")
    return usable, False


def resample(episode: Episode, interval: float) -> str | None:
    """Put an episode on a regular grid of `interval` (linear interpolation, `np.interp`) when its time stamps
    are not on one already; returns a problem when that cannot be done."""
    times = episode.times
    if times is None or len(times) < 2:
        return None
    steps = np.diff(times)
    if np.allclose(steps, interval, rtol=1e-3, atol=0):
        return None
    grid = times[0] + interval * np.arange(int(np.floor((times[-1] - times[0]) / interval + 1e-6)) + 1)
    if len(grid) < 2:
        return f"spans {times[-1] - times[0]:g}, less than two steps of sampling_interval={interval:g}"
    episode.series = np.stack([np.interp(grid, times, row) for row in episode.series])
    if episode.commands is not None:
        episode.commands = np.stack([np.interp(grid, times, row) for row in episode.commands])
    episode.times = grid
    return None


def sampling_interval(episodes: list[Episode], config: TimeSeriesJepaConfig) -> float | None:
    """The step of the data: the config's, else the median step of the (train) episodes' time stamps."""
    if config.sampling_interval is not None:
        return config.sampling_interval
    steps = [np.diff(e.times) for e in episodes if e.times is not None and len(e.times) > 1]
    return float(np.median(np.concatenate(steps))) if steps else None


def _check_episodes(data: FileData, interval: float | None, min_length: int, need: str, bad: list) -> None:
    """Resample and check `data`'s episodes; the bad ones go to `bad` (path, episode id, problem), the others keep
    where they are, not their values (`Episode.forget_values`)."""
    keep = []
    for position, episode in enumerate(data.episodes):
        problem = episode.problem
        if problem is None and interval is not None:
            problem = resample(episode, interval)
        problem = problem or first_problem(
            long_enough(episode.series.shape[1], min_length, "steps" + need),
            finite(episode.series),
            None if episode.commands is None or finite(episode.commands) is None
            else f"commands: {finite(episode.commands)}",
        )  # fmt: skip
        if problem:
            bad.append((data.path, episode.id, problem))
        else:
            episode.forget_values(data.path, position)
            keep.append(episode)
    data.episodes = keep


def read_all(path: str, config: TimeSeriesJepaConfig, trained: bool, min_length: int):
    """The pre-check: every file read once and every episode checked; (files, split layout, sampling interval).

    Bad files and episodes are listed together (`BadFilesError`) or, with `on_bad_file=skip`, left out with a
    warning. `trained`: the data go through a trained model (evaluate / embed), whose columns are fixed. The files'
    episodes keep where they are, not their values (`EpisodeFiles` reads them again), so memory holds one file at
    a time."""
    paths, named = data_files(path)
    read, unreadable, mismatched, bad = [], [], [], []
    interval = None
    episodes = 0
    need = " (window_size)" if min_length == config.window_size else " (window_size + prediction_horizon)"
    for file in paths:
        try:
            data = read_file(file, config, trained)
        except ConfigFieldError:
            raise
        except Exception as error:  # unreadable, truncated, not a series: reported with the rest
            reason = str(error).removeprefix(f"{file}: ").removeprefix(f"{file} ")
            unreadable.append(BadFile(str(file), f"unreadable ({type(error).__name__}: {reason})"))
            continue
        if read:
            first = read[0]
            tables = data.path.suffix in TABLE_SUFFIXES and first.path.suffix in TABLE_SUFFIXES
            if len(data.channels) != len(first.channels) or (tables and data.channels != first.channels):
                problem = f"channels {data.channels} differ from {first.path.name}'s {first.channels}"
                mismatched.append(BadFile(str(data.path), problem))
                data.episodes = []
        else:
            interval = sampling_interval(data.episodes, config)
        episodes += len(data.episodes)
        _check_episodes(data, interval, min_length, need, bad)
        read.append(data)
    prefixed = len(read) > 1 and not named  # episode ids `file/episode` when there are several files
    if prefixed:
        for data in read:
            for episode in data.episodes:
                episode.id = f"{data.path.stem}/{episode.id}"
    named_bad = [BadFile(f"{file} [episode {f'{file.stem}/' if prefixed else ''}{name}]", problem)
                 for file, name, problem in bad]  # fmt: skip
    bad = unreadable + mismatched + named_bad
    if bad and (config.on_bad_file == "error" or not any(d.episodes for d in read)):
        raise BadEpisodesError(bad, len(paths), episodes)
    if bad:
        message = str(BadEpisodesError(bad, len(paths), episodes)).replace("cannot be used", "are left out", 1)
        logger.warning("%s", message.rsplit("\n", 1)[0])
    return read, named, interval


class EpisodeFiles:
    """Reads a user's episodes again, resampled as the pre-check did, from where it left them (`Episode.path`,
    `position`); the file of the last episode read stays parsed (one file in memory), so the pieces of a file read
    in a row parse it once."""

    def __init__(self, config: TimeSeriesJepaConfig, trained: bool, interval: float | None):
        self.config, self.trained, self.interval, self._file = config, trained, interval, (None, None)

    def values(self, episode: Episode) -> tuple[np.ndarray, np.ndarray | None]:
        """(series (C, T), commands (K, T) or None) of an episode."""
        if self._file[0] != episode.path:
            self._file = (episode.path, read_file(episode.path, self.config, self.trained).episodes)
        read = self._file[1][episode.position]
        if self.interval is not None and read.times is not None:
            resample(read, self.interval)
            read.times = None  # resampled once
        return read.series, read.commands


class Pieces:
    """Equal-length pieces (episode, first step) of a user's episodes, read again and standardised when indexed, as
    a (pieces, channels, length) tensor would be: an int gives one (channels, length) tensor, a slice, a list or
    a tensor of ints several stacked, a tuple indexes further; `shape` is the tensor's."""

    def __init__(self, files: EpisodeFiles, taken: list, length: int, commands: bool, processor, channels: int):
        self.files, self.taken, self.length, self.commands = files, taken, length, commands
        self.normalize = processor.normalize_commands if commands else processor.normalize_series
        self.shape = torch.Size((len(taken), channels, length))

    def __len__(self) -> int:
        return len(self.taken)

    def _one(self, index: int) -> torch.Tensor:
        episode, start = self.taken[index]
        values = self.files.values(episode)[1 if self.commands else 0]
        piece = values[:, start : start + self.length].astype(np.float32)  # as `check_series` gives them
        return torch.from_numpy(self.normalize(piece))

    def __getitem__(self, index):
        if isinstance(index, tuple):
            return self[index[0]][index[1:]]
        if isinstance(index, int | np.integer) or (isinstance(index, torch.Tensor) and index.ndim == 0):
            return self._one(range(len(self))[int(index)])
        if isinstance(index, slice):
            indices = list(range(len(self))[index])
        else:
            index = torch.as_tensor(index)
            indices = (index.nonzero().flatten() if index.dtype == torch.bool else index).tolist()
        return torch.stack([self._one(range(len(self))[i]) for i in indices])


def _split_episodes(read: list[FileData], named: bool, split: str, config: TimeSeriesJepaConfig, path: str):
    """(episodes of `split`, train episodes): the train / test files, or the last `test_fraction` of episodes."""
    if named:
        train = read[0].episodes
        test = read[1].episodes if len(read) > 1 else None
        if test is not None:
            chosen = {"train": train, "test": test, "all": [*train, *test]}[split]
            if split == "all":
                for episode in train:
                    episode.id = f"train-{episode.id}"
                for episode in test:
                    episode.id = f"test-{episode.id}"
            return chosen, train
    episodes = [e for d in read for e in d.episodes]
    count = len(episodes)
    cut = count - int(round(count * config.test_fraction)) if count > 1 else count
    chosen = {"train": episodes[:cut], "test": episodes[cut:], "all": episodes}[split]
    if not chosen:
        raise ConfigFieldError(
            f"{path}: the {split} split is empty ({count} usable episodes); add episodes or change the test share",
            "test_fraction",
            0.2 if count > 1 else 0.0,
        )
    return chosen, episodes[:cut]


def encode_labels(labels: np.ndarray | None, train_labels: np.ndarray | None):
    """Integer labels as they are; other labels (e.g. names) → indices into the train split's sorted classes."""
    if labels is None or np.issubdtype(np.asarray(labels).dtype, np.integer):
        return labels, None
    if train_labels is None:
        raise ValueError("the train split has no labels, so the other split's label names cannot be encoded")
    values = np.asarray(labels)
    if np.issubdtype(values.dtype, np.floating) and np.all(values == np.round(values)):
        return values.astype(np.int64), None  # whole numbers read as floats (a label column with gaps)
    names = sorted({str(v) for v in train_labels})
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted({str(v) for v in labels} - set(index))
    if unknown:
        raise ValueError(f"labels {unknown} do not occur in the train split (classes: {names})")
    return np.asarray([index[str(v)] for v in labels], dtype=np.int64), names


def pieces(episodes: list[Episode], length: int, stride: int) -> list[tuple[Episode, int]]:
    """(episode, first step) of equal-length pieces of every episode (`window_starts`: the last one ends at the
    episode's end)."""
    return [(e, s) for e in episodes for s in window_starts(e.length, length, stride)]


def _fit_streaming(files: EpisodeFiles, train: list[Episode], sizes: dict, config: TimeSeriesJepaConfig):
    """The processor of the train episodes, their statistics taken in one pass (numpy's on the joined episodes, up
    to rounding; as float32 they are almost always the same), one episode in memory at a time."""
    from jepa_core.running_stats import moments

    from .processor_tsjepa import standardisation

    num_channels, num_commands = sizes["num_channels"], sizes["num_commands"]
    if config.observation == "sensors":
        series = moments(lambda: (files.values(e)[0] for e in train))
        channels = standardisation(series.mean, series.std)
    else:
        channels = (np.zeros(num_channels, np.float32), np.ones(num_channels, np.float32))
    if all(e.has_commands for e in train):
        recorded = moments(lambda: (files.values(e)[1] for e in train))
        commands = standardisation(recorded.mean, recorded.std)
    else:
        commands = standardisation(np.zeros(num_commands), np.zeros(num_commands))
    return TimeSeriesJepaProcessor(
        *channels, *commands, window_size=config.window_size, channel_names=sizes["channel_columns"],
        command_names=sizes["command_columns"],
    )  # fmt: skip


def load_dataset(
    path: str, split: str, config: TimeSeriesJepaConfig, processor: TimeSeriesJepaProcessor | None = None
) -> TrajectoryDataset:
    """A split of user data as a data set, standardised by `processor` (default: one fitted on its train split).

    train / test: each episode cut into pieces of min(`trajectory_length`, shortest episode) steps that overlap
    so that every anchor (a window before it, the horizon after it) is in one piece; ids `episode@first step`.
    all (`jepa embed`): windows of `window_size` steps every `window_size` steps (the last one ends at the
    episode's end); ids `episode@last step`. The data set carries `sizes` (what the data fixes in the config:
    channel and command columns and counts, sampling interval) for `adapt_config`. The pieces are read from the
    files when used (`Pieces`): memory holds one file at a time, not the data set (a single CSV / Parquet file is
    one file: split a large table into several files, one or more episodes each)."""
    check_split(split)
    trained = processor is not None
    min_length = config.window_size if split == "all" else config.min_series_length
    read, named, interval = read_all(path, config, trained, min_length)
    files = EpisodeFiles(config, trained, interval)
    if config.sampling_interval is not None:
        interval = config.sampling_interval
    episodes, train = _split_episodes(read, named, split, config, path)
    first = next(d for d in read if d.episodes)
    sizes = {
        "num_channels": len(first.channels),
        "num_commands": config.num_commands if first.commands is None else len(first.commands),
        "channel_columns": first.channels if first.path.suffix in TABLE_SUFFIXES else None,
        "command_columns": first.commands if first.path.suffix in TABLE_SUFFIXES else None,
        "sampling_interval": interval,
    }
    has_commands = all(e.has_commands for e in episodes)
    if processor is None:
        processor = _fit_streaming(files, train, sizes, config)
    elif processor.num_channels != sizes["num_channels"]:
        raise ValueError(
            f"{path} has {sizes['num_channels']} channels ({first.channels}) but the run was trained on "
            f"{processor.num_channels} ({processor.channel_names or 'unnamed'})"
        )
    if split == "all":
        length, stride = config.window_size, config.window_size
    else:
        length = min(config.trajectory_length, min(e.length for e in episodes))
        stride = length - config.min_series_length + 1
    taken = pieces(episodes, length, stride)
    owners, starts = [e for e, _ in taken], [s for _, s in taken]
    tensors = {"series": Pieces(files, taken, length, False, processor, processor.num_channels)}
    if has_commands:
        tensors["commands"] = Pieces(files, taken, length, True, processor, processor.num_commands)
    else:  # none recorded: standardised zeros, one piece's worth shared by all (an expanded view)
        zeros = processor.normalize_commands(np.zeros((processor.num_commands, length), np.float32))
        tensors["commands"] = torch.from_numpy(zeros).expand(len(taken), -1, -1)
    class_names = None
    if all(e.label is not None for e in episodes) and read[0].has_labels:
        train_labels = np.asarray([e.label for e in train]) if all(e.label is not None for e in train) else None
        encoded, class_names = encode_labels(np.asarray([e.label for e in episodes]), train_labels)
        by_episode = {id(e): label for e, label in zip(episodes, encoded, strict=True)}
        tensors["labels"] = torch.as_tensor([by_episode[id(e)] for e in owners], dtype=torch.long)
    ends = [s + length - 1 for s in starts]
    ids = [f"{e.id}@{end if split == 'all' else start}" for e, start, end in zip(owners, starts, ends, strict=True)]
    anchors = length - config.min_series_length + 1 if split == "train" else 1
    dataset = TrajectoryDataset(
        tensors, processor, anchors, split=split, ids=ids, class_names=class_names, has_commands=has_commands
    )
    dataset.sizes = sizes
    dataset.episode_ids = [e.id for e in owners]
    return dataset


def adapt_config(config: TimeSeriesJepaConfig, dataset: TrajectoryDataset) -> TimeSeriesJepaConfig:
    """The config sized by the training data: channel and command counts and columns, and the sampling interval
    (recorded, so that `evaluate` / `embed` read other files the same way)."""
    sizes = getattr(dataset, "sizes", None)
    if not sizes:
        return config
    adapted = copy.deepcopy(config)
    for field, value in sizes.items():
        if value is not None:
            setattr(adapted, field, value)
    return adapted
