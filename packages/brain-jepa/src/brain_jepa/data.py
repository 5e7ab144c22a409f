"""Data: the embedded synthetic cohort, loaders for real ROI time series, probes.

The embedded default is a self-contained generator of resting-state-like ROI time series: 31 ROIs in four
networks (A default mode, B dorsal attention, C frontoparietal, D sensorimotor; contiguous, as in atlases ordered
by network). Each network has a slow latent signal (AR(1), TR 1.89 s); the latent signals are coupled (A
anticorrelated with B, as in real resting-state data) and each ROI is its network's signal (loading 0.65-0.9)
plus its own faster AR(1) noise. Per subject:

- a class (the probe's labels): the intrinsic timescale of the network signals, in three groups (AR(1)
  coefficient 0.6 / 0.75 / 0.9, ± 0.04), as the altered BOLD timescales reported in ageing and psychiatric
  cohorts. It is shared by every network, so it shows in every ROI, diluted by the ROI's own noise;
- a trait in [0, 1] (an "age", probed by regression): dedifferentiation, i.e. loadings scaled by 1 - trait / 2
  (weaker within-network connectivity, relatively more ROI noise);
- nuisance: slowness of the ROI noise, ROI amplitudes (log-normal, σ 0.3).
"""

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from jepa_core.overrides import ConfigFieldError
from scipy import io as scipy_io
from scipy import signal
from torch.utils.data import Dataset

from .configuration_brain_jepa import BrainJepaConfig
from .processor_brain_jepa import BrainJepaProcessor, brain_gradients_from_timeseries, resampled_length

logger = logging.getLogger(__name__)
EMBEDDED_NUM_ROIS = 31
EMBEDDED_REPETITION_TIME = 1.89  # seconds
NETWORK_SIZES = (9, 8, 7, 7)  # A default mode, B dorsal attention, C frontoparietal, D sensorimotor
NETWORK_COUPLING = np.array([[1.0, -0.5, 0.2, 0.1], [-0.5, 1.0, 0.1, 0.3], [0.2, 0.1, 1.0, 0.2], [0.1, 0.3, 0.2, 1.0]])
TIMESCALE_GROUPS = (0.6, 0.75, 0.9)  # per class: AR(1) coefficient of the network signals (± TIMESCALE_JITTER)
TIMESCALE_JITTER = 0.04
BURN_IN = 30  # AR(1) frames dropped so that every series starts stationary
SERIES_SUFFIXES = (".npy", ".csv", ".tsv", ".mat")
MAT_KEYS = ("time_series", "timeseries", "roi_timeseries", "ts", "data")


def network_of_rois() -> np.ndarray:
    """The embedded cohort's network index of each of its 31 ROIs."""
    return np.repeat(np.arange(len(NETWORK_SIZES)), NETWORK_SIZES)


def _ar1(innovations: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Unit-variance AR(1) filtering along the last axis; `rho` has the shape of the leading axes."""
    rows = innovations.reshape(-1, innovations.shape[-1])
    filtered = [signal.lfilter([np.sqrt(1 - r**2)], [1, -r], x) for r, x in zip(rho.ravel(), rows, strict=True)]
    return np.reshape(filtered, innovations.shape)


def simulate_cohort(num_subjects: int, num_frames: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Synthetic subjects → {"time_series" (N, 31, T), "labels" (N,), "traits" (N,)} (see the module docstring)."""
    rng = np.random.default_rng(seed)
    networks, length, num_networks = network_of_rois(), num_frames + BURN_IN, len(NETWORK_SIZES)
    labels = rng.integers(0, len(TIMESCALE_GROUPS), num_subjects)
    traits = rng.uniform(0, 1, num_subjects)
    timescale = np.asarray(TIMESCALE_GROUPS)[labels] + rng.uniform(-TIMESCALE_JITTER, TIMESCALE_JITTER, num_subjects)
    factor = np.linalg.cholesky(NETWORK_COUPLING)
    latent = np.einsum("kj,njt->nkt", factor, rng.normal(size=(num_subjects, num_networks, length)))
    latent = _ar1(latent, np.repeat(timescale[:, None], num_networks, axis=1))
    noise_slowness = np.repeat((timescale - rng.uniform(0.3, 0.4, num_subjects))[:, None], EMBEDDED_NUM_ROIS, axis=1)
    noise = _ar1(rng.normal(size=(num_subjects, EMBEDDED_NUM_ROIS, length)), noise_slowness)
    loading = (rng.uniform(0.65, 0.9, EMBEDDED_NUM_ROIS) * (1 - 0.5 * traits[:, None]))[..., None]
    series = loading * latent[:, networks] + np.sqrt(1 - loading**2) * noise
    amplitude = rng.lognormal(0, 0.3, (num_subjects, EMBEDDED_NUM_ROIS, 1))
    return {"time_series": amplitude * series[:, :, BURN_IN:], "labels": labels, "traits": traits}


@functools.lru_cache(maxsize=8)
def _embedded_gradients(num_components: int, alpha: float, sparsity: float) -> np.ndarray:
    series = list(simulate_cohort(128, 256, seed=2)["time_series"])
    return brain_gradients_from_timeseries(series, num_components, alpha, sparsity)


def embedded_brain_gradients(config: BrainJepaConfig) -> np.ndarray:
    """Group gradients of the embedded cohort (from 128 simulated subjects), with the config's gradient settings."""
    return _embedded_gradients(config.gradient_components, config.gradient_alpha, config.gradient_sparsity).copy()


TIMESCALE_CLASS_NAMES = ("fast (AR 0.6)", "medium (AR 0.75)", "slow (AR 0.9)")


class RoiTimeSeriesDataset(Dataset):
    """Processed subjects: `time_series` (R, T) float32, plus `labels` / `traits` when known.

    `ids` names the subjects, `processor` is the `BrainJepaProcessor` that made the tensors (saved in every run),
    `embedded` marks the embedded cohort (whose brain gradients the model already has).
    """

    def __init__(
        self,
        time_series: torch.Tensor,
        labels: torch.Tensor | None = None,
        traits: torch.Tensor | None = None,
        ids: list[str] | None = None,
        processor: BrainJepaProcessor | None = None,
        class_names: Sequence[str] | None = None,
        embedded: bool = False,
    ):
        self.time_series, self.labels, self.traits = time_series, labels, traits
        self.ids = ids if ids is not None else [str(i) for i in range(len(time_series))]
        self.processor, self.class_names, self.embedded = processor, class_names, embedded

    def __len__(self) -> int:
        return len(self.time_series)

    def __getitem__(self, index: int) -> dict:
        sample = {"time_series": self.time_series[index]}
        if self.labels is not None:
            sample["labels"] = self.labels[index]
        if self.traits is not None:
            sample["traits"] = self.traits[index]
        return sample


def _check_split(split: str) -> None:
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")


def _process(subjects: Sequence, processor: BrainJepaProcessor) -> torch.Tensor:
    if not subjects:
        raise ValueError("no subjects to process")
    return torch.stack([processor.process_subject(s) for s in subjects])


@functools.lru_cache(maxsize=8)
def _cohort(num_subjects: int, num_frames: int, seed: int) -> dict[str, np.ndarray]:
    return simulate_cohort(num_subjects, num_frames, seed)


def embedded_processor(config: BrainJepaConfig) -> BrainJepaProcessor:
    """The processor of the embedded cohort: robust scaling fitted on its 512 training subjects."""
    processor = BrainJepaProcessor.from_config(config, repetition_time=EMBEDDED_REPETITION_TIME)
    return processor.fit(list(_cohort(512, config.num_frames, 0)["time_series"]))


def default_dataset(
    split: str, config: BrainJepaConfig, processor: BrainJepaProcessor | None = None
) -> RoiTimeSeriesDataset:
    """The embedded cohort: 512 training / 256 test subjects ("all": both); robust scaling fitted on the training
    split (or the given processor, e.g. the one saved in a run)."""
    _check_split(split)
    if config.num_rois != EMBEDDED_NUM_ROIS:
        raise ConfigFieldError(
            f"the embedded data set has {EMBEDDED_NUM_ROIS} ROIs but the config has num_rois={config.num_rois}; "
            "use the tiny preset, or pass your own data",
            "num_rois",
            EMBEDDED_NUM_ROIS,
        )
    processor = processor if processor is not None else embedded_processor(config)
    parts = {"train": [("train", 512, 0)], "test": [("test", 256, 1)]}
    parts["all"] = parts["train"] + parts["test"]
    series, labels, traits, ids = [], [], [], []
    for name, size, seed in parts[split]:
        cohort = _cohort(size, config.num_frames, seed)
        series.append(_process(list(cohort["time_series"]), processor))
        labels.append(torch.from_numpy(cohort["labels"]))
        traits.append(torch.from_numpy(cohort["traits"]).float())
        ids += [f"{name}-{i:03d}" for i in range(size)]
    return RoiTimeSeriesDataset(
        torch.cat(series), torch.cat(labels), torch.cat(traits), ids, processor, TIMESCALE_CLASS_NAMES, embedded=True
    )


def read_series(path: str | Path, key: str | None = None) -> list[np.ndarray]:
    """Subjects in one file: .npy (2-D one subject, 3-D a stack), .csv/.tsv (one subject, header optional), .mat."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = np.load(path, allow_pickle=False)
    elif suffix in (".csv", ".tsv"):
        table = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", header=None)
        numeric = table.apply(pd.to_numeric, errors="coerce")
        if numeric.iloc[0].isna().all():  # a header row of ROI names
            numeric = numeric.iloc[1:]
        array = numeric.to_numpy(dtype=np.float64)
    elif suffix == ".mat":
        array = _read_mat(path, key)
    else:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(SERIES_SUFFIXES)}")
    if array.ndim == 2:
        return [array]
    if array.ndim == 3:
        return list(array)
    raise ValueError(f"{path}: expected a 2-D (one subject) or 3-D (subjects first) array, got shape {array.shape}")


def _read_mat(path: Path, key: str | None) -> np.ndarray:
    content = {k: v for k, v in scipy_io.loadmat(path).items() if not k.startswith("__")}
    arrays = {
        k: v for k, v in content.items() if isinstance(v, np.ndarray) and v.dtype.kind in "fiu" and v.ndim in (2, 3)
    }
    if key is not None:
        if key not in content:
            raise KeyError(f"{path} has no variable {key!r}; it has {sorted(content)}")
        return np.asarray(content[key], dtype=np.float64)
    preferred = [k for k in MAT_KEYS if k in arrays]
    if len(arrays) == 1 or preferred:
        return np.asarray(arrays[preferred[0] if preferred else next(iter(arrays))], dtype=np.float64)
    raise ValueError(
        f"{path}: cannot tell which variable holds the ROI time series among {sorted(arrays) or sorted(content)}; "
        f"name it one of {MAT_KEYS}"
    )


def _read_labels(folder: Path) -> pd.DataFrame | None:
    path = folder / "labels.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    if "subject" not in table.columns:
        raise ValueError(f"{path} needs a 'subject' column (file names without suffix) and 'label' and/or 'trait'")
    return table.set_index(table["subject"].astype(str))


@functools.lru_cache(maxsize=4)
def _hf_table(path: str):
    """A `datasets.save_to_disk` folder as one table (memory-mapped Arrow: rows are read when used)."""
    import datasets

    table = datasets.load_from_disk(path)
    if isinstance(table, datasets.DatasetDict):
        table = datasets.concatenate_datasets(list(table.values()))
    if "time_series" not in table.column_names:
        raise ValueError(f"{path}: a datasets folder needs a 'time_series' column, found {table.column_names}")
    return table


def _hf_labels(path: Path) -> pd.DataFrame | None:
    table = _hf_table(str(path))
    columns = {c: table[c] for c in ("label", "trait") if c in table.column_names}
    return pd.DataFrame(columns, index=[str(i) for i in range(len(table))]) if columns else None


TR_KEYS = ("RepetitionTime", "repetition_time", "TR", "tr")


def _tr_from_json(path: Path) -> float | None:
    import json

    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict):
        return None
    found = next((content[k] for k in TR_KEYS if k in content), None)
    return None if found is None else float(found)


def read_repetition_time(path: Path) -> float | None:
    """The TR (s) a file declares: a BIDS sidecar `<stem>.json`, a `.mat` variable (TR, tr, RepetitionTime …),
    or a folder-level `*bold.json` / `repetition_time.json`; None when none does."""
    sidecar = path.with_suffix(".json")
    if sidecar.is_file() and (tr := _tr_from_json(sidecar)) is not None:
        return tr
    if path.suffix.lower() == ".mat":
        content = scipy_io.loadmat(path)
        for key in TR_KEYS:
            if key in content and np.size(content[key]) == 1:
                return float(np.ravel(content[key])[0])
    for shared in sorted(path.parent.glob("*bold.json")) + [path.parent / "repetition_time.json"]:
        if shared.is_file() and (tr := _tr_from_json(shared)) is not None:
            return tr
    return None


class RoiWindowDataset(Dataset):
    """A user's subjects, resampled to the model's TR and robust-scaled, served as windows of `num_frames`:
    random crops for pretraining (`random_crops`), strided windows for evaluation and embedding. `subjects` reads
    each subject from its file when it is used (`ScaledSubjects`); `subject_of[i]` is the subject of window i (the
    probe averages a subject's windows); `ids`, `labels`, `traits` are per subject.
    """

    def __init__(self, subjects, num_frames, stride, random_crops, labels, traits, ids, processor, trs):
        from jepa_core.windows import Windows

        self.subjects = subjects  # (R, T) float32 tensors, scaled, at the model's TR
        self.windows = Windows(subjects.lengths, num_frames, self._crop, stride, random_crops)
        self.labels, self.traits, self.ids, self.processor = labels, traits, ids, processor
        self.repetition_times, self.class_names, self.embedded = trs, None, False

    def _crop(self, subject: int, start: int) -> dict:
        sample = {"time_series": self.subjects[subject][:, start : start + self.windows.window]}
        if self.labels is not None:
            sample["labels"] = self.labels[subject]
        if self.traits is not None:
            sample["traits"] = self.traits[subject]
        return sample

    @property
    def subject_of(self) -> list[int]:
        return self.windows.recording_of

    @property
    def num_rois(self) -> int:
        return int(self.processor.num_rois)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict:
        return self.windows[index]


@dataclass
class Found:
    """A subject as the pre-check read it: where it is (`index`: its place in a file or a datasets folder of
    several) and what the checks need, not its values, which `ScaledSubjects` reads again when they are used."""

    file: str
    name: str
    index: int | None = None
    tr: float | None = None
    error: Exception | None = None
    shape: tuple[int, ...] = ()
    nonfinite: int = 0
    constant: tuple[list[int], list[int]] = ([], [])  # constant ROIs when ROIs are the rows / the columns
    bad_frames: tuple[int, int] = (0, 0)  # frames holding NaN/inf when ROIs are the rows / the columns
    transpose: bool = False  # set by the pre-check: the file holds time × ROIs


def _survey(file: str, name: str, index: int | None, array: np.ndarray, tr: float | None) -> Found:
    array = np.asarray(array, dtype=np.float64)
    found = Found(file, name, index, tr, shape=array.shape)
    if array.ndim == 2:
        finite = np.isfinite(array)
        found.nonfinite = int((~finite).sum())
        found.constant = tuple(np.flatnonzero(np.nan_to_num(a).std(axis=1) == 0).tolist() for a in (array, array.T))
        found.bad_frames = (int((~finite.all(axis=0)).sum()), int((~finite.all(axis=1)).sum()))
    return found


def _stored(found: Found) -> np.ndarray:
    """A subject's series as its file stores it, float64."""
    if Path(found.file).is_dir():
        return np.asarray(_hf_table(found.file)[found.index]["time_series"], dtype=np.float64)
    if found.index is not None and Path(found.file).suffix.lower() == ".npy":
        return np.asarray(np.load(found.file, mmap_mode="r")[found.index], dtype=np.float64)
    return np.asarray(read_series(found.file)[found.index or 0], dtype=np.float64)


def _oriented_series(found: Found) -> np.ndarray:
    array = _stored(found)
    return array.T if found.transpose else array


class ScaledSubjects(Sequence):
    """The subjects of a split, each read from its file, resampled and robust-scaled when it is used (the last one
    is kept for the windows that follow it); `lengths[i]` is subject i's frame count, known up front."""

    def __init__(self, found: list[Found], processor: BrainJepaProcessor):
        self.found, self.processor, self._last = found, processor, (None, None)
        self.lengths = [self._length(f) for f in found]

    def _length(self, found: Found) -> int:
        frames = found.shape[0 if found.transpose else 1] - found.bad_frames[1 if found.transpose else 0]
        if found.tr is None or self.processor.repetition_time is None:
            return frames
        return resampled_length(frames, found.tr, self.processor.repetition_time)

    def __len__(self) -> int:
        return len(self.found)

    def __getitem__(self, index: int) -> torch.Tensor:
        if self._last[0] != index:
            self._last = (index, _scaled(self.processor, _oriented_series(self.found[index]), self.found[index].tr))
        return self._last[1]


def _source_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in SERIES_SUFFIXES and p.name != "labels.csv")
    if not files:
        raise FileNotFoundError(f"{path} holds no ROI time series files ({', '.join(SERIES_SUFFIXES)})")
    return files


def _read_subjects(path: Path, config: BrainJepaConfig) -> list[Found]:
    """Every subject of `path`, read once and surveyed (`Found`: its values are not kept), or its read error."""
    if path.is_dir() and any((path / name).is_file() for name in ("dataset_info.json", "dataset_dict.json")):
        table = _hf_table(str(path))
        return [
            _survey(str(path), str(i), i, table[i]["time_series"], config.repetition_time) for i in range(len(table))
        ]
    found = []
    for file in _source_files(path):
        try:
            series = read_series(file)
            tr = read_repetition_time(file)
        except Exception as error:  # reported with every other bad file by the pre-check
            found.append(Found(str(file), file.stem, error=error))
            continue
        if tr is not None and config.repetition_time is not None and not np.isclose(tr, config.repetition_time):
            found.append(Found(str(file), file.stem, error=ValueError(
                f"the file declares TR {tr:g} s but repetition_time={config.repetition_time:g} is set"
            )))  # fmt: skip
            continue
        tr = tr if tr is not None else config.repetition_time
        if len(series) == 1:
            found.append(_survey(str(file), file.stem, None, series[0], tr))
        else:
            found += [_survey(str(file), f"{file.stem}_{i}", i, s, tr) for i, s in enumerate(series)]
    return found


def _cohort_num_rois(shapes: list[tuple[int, int]], layout: str) -> int:
    """The ROI count of a cohort: the axis size that most files have (files may be ROIs × time or time × ROIs;
    scans differ in length, the parcellation does not), or the one `layout` says."""
    if layout != "auto":
        sizes = [shape[0 if layout == "roi_time" else 1] for shape in shapes]
    else:
        sizes = [size for shape in shapes for size in set(shape)]
    values, counts = np.unique(sizes, return_counts=True)
    best = values[counts == counts.max()]
    if len(best) > 1 and layout == "auto":  # e.g. every file the same shape: scans have more frames than ROIs
        logger.warning(
            "%s files could hold %s ROIs: taking %d (fMRI scans have more frames than ROIs); if wrong, say the "
            "axis order with --set layout=roi_time or --set layout=time_roi",
            len(shapes),
            " or ".join(str(int(b)) for b in best),
            int(best.min()),
        )
    return int(best.min())


def _transposed(shape: tuple[int, int], layout: str, num_rois: int) -> bool | None:
    """Whether a (ROIs, time) series is the transpose of the stored array; None when no axis has `num_rois`."""
    if layout != "auto":
        transpose = layout != "roi_time"
        return transpose if shape[1 if transpose else 0] == num_rois else None
    if shape[0] == num_rois:
        return False
    return True if shape[1] == num_rois else None


def _precheck(entries: list[Found], config: BrainJepaConfig, processor: BrainJepaProcessor | None):
    """Every bad subject at once: unreadable, not 2-D, inconsistent ROI counts, NaN, constant ROIs, too short."""
    from jepa_core.data_checks import BadFile, BadFilesError

    bad, good = [], []
    readable = [e.shape for e in entries if e.error is None and len(e.shape) == 2]
    layout = config.layout if processor is None or processor.layout == "auto" else processor.layout
    num_rois = processor.num_rois if processor is not None else (_cohort_num_rois(readable, layout) if readable else 0)
    model_tr = config.model_repetition_time if processor is None else processor.repetition_time
    for entry in entries:
        where = entry.file if Path(entry.file).stem == entry.name else f"{entry.file} [{entry.name}]"
        if entry.error is not None:
            bad.append(BadFile(where, f"unreadable ({type(entry.error).__name__}: {entry.error})"))
            continue
        if len(entry.shape) != 2:
            bad.append(BadFile(where, f"not a 2-D ROI × time array (shape {entry.shape})"))
            continue
        transpose = _transposed(entry.shape, layout, num_rois)
        if transpose is None:
            whose = "the model's" if processor is not None else "the other files'"
            bad.append(BadFile(where, f"shape {entry.shape} has no axis of {whose} {num_rois} ROIs"))
            continue
        entry.transpose, tr = transpose, entry.tr
        length = entry.shape[1 if not transpose else 0]
        frames = length if tr is None or model_tr is None else resampled_length(length, tr, model_tr)
        if entry.nonfinite and config_nan_policy(processor) == "raise":
            problem = f"{entry.nonfinite} NaN or infinite values"
        elif constant := entry.constant[int(transpose)]:
            problem = f"constant (flat) ROIs {constant[:10]}{' …' if len(constant) > 10 else ''}"
        elif frames < config.num_frames:
            at = f" at the model's TR {model_tr:g} s" if tr is not None else ""
            problem = f"too short: {frames} frames{at}, at least num_frames={config.num_frames} needed"
        else:
            good.append(entry)
            continue
        bad.append(BadFile(where, problem))
    if bad and (config.on_bad_file == "error" or not good):
        raise BadFilesError(bad, len(entries))
    if bad:
        logger.warning("%s", str(BadFilesError(bad, len(entries))).replace("cannot be used", "are left out", 1))
    unknown = [entry.name for entry in good if entry.tr is None]
    if unknown and model_tr is not None:
        logger.warning(
            "no TR found for %d subjects (e.g. %s: no sidecar .json with RepetitionTime, no TR in the .mat): "
            "taking them at the model's TR %g s; if that is wrong, --set repetition_time=SECONDS",
            len(unknown),
            unknown[0],
            model_tr,
        )
    return good, num_rois


def config_nan_policy(processor: BrainJepaProcessor | None) -> str:
    return "raise" if processor is None else processor.nan_policy


def load_dataset(
    path: str,
    split: str,
    config: BrainJepaConfig,
    processor: BrainJepaProcessor | None = None,
    test_every: int = 5,
) -> RoiWindowDataset:
    """ROI time series from a file, a folder of files (one subject each, optional `labels.csv` with columns
    subject,label,trait), or a `datasets.save_to_disk` folder (`time_series`, optional `label`, `trait`).

    Folders with `train/` and `test/` subfolders are used as they are; otherwise every `test_every`-th subject is
    the test split ("all": every subject). The ROI count is the data's (the axis every file shares, or
    `--set layout=`); each file's TR is read (sidecar `.json`, `.mat` variable) or `--set repetition_time=`, and
    the series resampled to `model_repetition_time`. Every file is pre-checked (all bad files listed at once);
    the data set keeps where each subject is, not its values, and reads it again when it is used, so memory does
    not grow with the number of subjects. Without a processor (pretraining) robust scaling is fitted on the
    training subjects (their exact per-ROI percentiles, in passes over the files) and the windows are random
    crops; with one (evaluation, embedding) they are strided windows.
    """
    from jepa_core.running_stats import percentiles

    _check_split(split)
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{path} does not exist")
    parts = ("train", "test") if (root / "train").is_dir() and (root / "test").is_dir() else None
    folders = [root / p for p in parts] if parts else [root]
    entries = [(e, folder) for folder in folders for e in _read_subjects(folder, config)]
    good, num_rois = _precheck([e for e, _ in entries], config, processor)
    folder_of = {e.name: folder for e, folder in entries}
    if parts:
        is_test = [folder_of[entry.name].name == "test" for entry in good]
    else:
        is_test = [i % test_every == test_every - 1 for i in range(len(good))]
        if len(good) < 2 and split != "all":
            raise ValueError(f"{path} holds {len(good)} usable subject; a train/test split needs at least 2")
    train = [g for g, t in zip(good, is_test, strict=True) if not t]
    chosen = [g for g, t in zip(good, is_test, strict=True) if split == "all" or t == (split == "test")]
    if not chosen:
        raise ValueError(f"{path} has no usable subject in the {split} split")
    pretraining = processor is None
    if processor is None:
        processor = BrainJepaProcessor(
            num_rois, config.num_frames, config.patch_size, repetition_time=config.model_repetition_time
        )

        def frames():
            return (processor.to_roi_time(_oriented_series(e), "roi_time", e.tr) for e in train)

        low, processor.median, high = percentiles(frames, [25, 50, 75])
        processor.iqr = high - low
    subjects = ScaledSubjects(chosen, processor)
    for index, length in enumerate(subjects.lengths):
        if length < max(processor.num_frames, processor.patch_size):
            subjects[index]  # the processor's error for a series left too short (e.g. once NaN frames are dropped)
    names = [entry.name for entry in chosen]
    labels = _labels_for(names, [folder_of[n] for n in names], root)
    stride = config.window_stride or config.num_frames
    return RoiWindowDataset(
        subjects, config.num_frames, stride, pretraining and split == "train", *labels, names, processor,
        [entry.tr for entry in chosen],
    )  # fmt: skip


def _scaled(processor: BrainJepaProcessor, array: np.ndarray, tr: float | None) -> torch.Tensor:
    """One subject (R, T) → resampled to the processor's TR, robust-scaled, float32 (all its frames)."""
    x = processor.to_roi_time(array, "roi_time", tr)
    return torch.from_numpy(((x - processor.median[:, None]) / processor.iqr[:, None]).astype(np.float32))


def _labels_for(names: list[str], folders: list[Path], root: Path):
    tables = {}
    for folder in dict.fromkeys(folders):
        if (folder / "dataset_info.json").is_file() or (folder / "dataset_dict.json").is_file():
            table = _hf_labels(folder)
        else:
            table = _read_labels(folder if folder.is_dir() else folder.parent)
            if table is None and folder != root and root.is_dir():
                table = _read_labels(root)
        tables[folder] = table
    if any(tables[f] is None for f in folders):
        return None, None
    label_tensor = trait_tensor = None
    missing = [n for n, f in zip(names, folders, strict=True) if n not in tables[f].index]
    if missing:
        raise ValueError(f"labels.csv has no row for subjects {missing[:5]}")
    rows = pd.DataFrame([tables[f].loc[n] for n, f in zip(names, folders, strict=True)])
    if "label" in rows.columns:
        label_tensor = torch.as_tensor(rows["label"].to_numpy().astype(np.int64))
    if "trait" in rows.columns:
        trait_tensor = torch.as_tensor(rows["trait"].to_numpy().astype(np.float32))
    return label_tensor, trait_tensor


def embeddings(encoder, dataset, batch_size: int = 64) -> torch.Tensor:
    """Mean-pooled encoder embeddings (N, D) of a data set (the probes' features): one row per subject, the mean
    over its windows for a user's data set."""
    return embed(encoder, dataset, batch_size).features


@torch.no_grad()
def embed(encoder, dataset, batch_size: int = 64):
    """`Embedded` per subject: each window mean-pooled, then a subject's windows averaged (the probe's input)."""
    from jepa_core.evaluation import Embedded, extract_embeddings

    if isinstance(dataset, RoiWindowDataset):  # windows read batch by batch
        starts = range(0, len(dataset), batch_size)
        stacked = (torch.stack([dataset[i]["time_series"] for i in range(s, min(s + batch_size, len(dataset)))])
                   for s in starts)  # fmt: skip
        batches = ({"time_series": windows} for windows in stacked)
    else:
        windows = dataset.time_series
        batches = [{"time_series": windows[i : i + batch_size]} for i in range(0, len(windows), batch_size)]
    was_training = encoder.training
    encoder.eval()
    try:
        features, _ = extract_embeddings(
            encoder, batches, input_keys=["time_series"], num_prefix_tokens=encoder.config.num_register_tokens
        )
    finally:
        encoder.train(was_training)
    features = features.float()
    labels = dataset.labels
    if isinstance(dataset, RoiWindowDataset):
        owner = torch.as_tensor(dataset.subject_of)
        count = torch.bincount(owner, minlength=len(dataset.subjects)).clamp_min(1)
        summed = torch.zeros(len(dataset.subjects), features.shape[1]).index_add_(0, owner, features)
        features = summed / count[:, None].float()
    labels = None if labels is None else labels.numpy()
    return Embedded(features, labels, list(dataset.ids))


def adapt_config(config: BrainJepaConfig, dataset) -> BrainJepaConfig:
    """The config sized by the user's data: `num_rois` is the files' ROI count (gradients are computed for it)."""
    if getattr(dataset, "embedded", False) or not isinstance(dataset, RoiWindowDataset):
        return config
    values = config.to_dict()
    values.update(num_rois=dataset.num_rois, gradient_components=min(config.gradient_components, dataset.num_rois - 1))
    values["parcellation"] = config.parcellation or f"{dataset.num_rois} ROIs (the user's files)"
    values["gradient_source"] = gradient_source(config, len(dataset.subjects), dataset.processor.repetition_time)
    for key in ("model_type", "transformers_version", "architectures"):
        values.pop(key, None)
    return type(config)(**{k: v for k, v in values.items() if k in _fields(type(config))})


def _fields(config_class) -> set[str]:
    from jepa_core.overrides import config_fields

    return set(config_fields(config_class))


def extra_metrics(encoder, train, test) -> dict[str, float]:
    """The trait regression (a ridge probe of the mean-pooled embeddings): Pearson's ρ and R² on the test split."""
    if getattr(train, "traits", None) is None or getattr(test, "traits", None) is None:
        return {}
    return regression_probe(embeddings(encoder, train), train.traits, embeddings(encoder, test), test.traits)


def prepare_model(model, dataset) -> None:
    """Brain gradients from the training subjects' group connectivity (the embedded cohort's are built in); the
    method and the parcellation are recorded in the config (`gradient_source`, `parcellation`)."""
    if getattr(dataset, "embedded", False):
        return
    config = model.config
    subjects = dataset.subjects if isinstance(dataset, RoiWindowDataset) else dataset.time_series
    series = (subject.double().numpy() for subject in subjects)  # one subject at a time
    gradients = brain_gradients_from_timeseries(
        series, config.gradient_components, config.gradient_alpha, config.gradient_sparsity
    )
    model.set_brain_gradients(gradients)
    repetition_time = getattr(dataset.processor, "repetition_time", None)
    config.gradient_source = gradient_source(config, len(subjects), repetition_time)
    config.parcellation = config.parcellation or f"{subjects[0].shape[0]} ROIs (the user's files)"


def gradient_source(config: BrainJepaConfig, num_subjects: int, repetition_time: float | None) -> str:
    """How the brain gradients were computed (recorded in the config)."""
    return (
        f"diffusion map (normalized-angle affinity, alpha={config.gradient_alpha:g}, sparsity="
        f"{config.gradient_sparsity:g}) of the Fisher-z group FC of {num_subjects} training subjects "
        f"at TR {repetition_time} s"
    )


def regression_probe(train_x, train_y, test_x, test_y) -> dict[str, float]:
    """Ridge probe on standardised features (alpha by leave-one-out CV on train) → test Pearson's ρ and R²."""
    from jepa_core.evaluation.probes import RIDGE_ALPHAS
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_y, test_y = np.asarray(train_y, dtype=np.float64), np.asarray(test_y, dtype=np.float64)
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS)).fit(np.asarray(train_x), train_y)
    prediction = model.predict(np.asarray(test_x))
    pearson = float(np.corrcoef(prediction, test_y)[0, 1]) if prediction.std() > 0 else 0.0
    return {"trait_pearson_r": pearson, "trait_r2": float(r2_score(test_y, prediction))}
