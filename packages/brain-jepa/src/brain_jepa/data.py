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
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from jepa_core.overrides import ConfigFieldError
from scipy import io as scipy_io
from scipy import signal
from torch.utils.data import Dataset

from .configuration_brain_jepa import BrainJepaConfig
from .processor_brain_jepa import BrainJepaProcessor, brain_gradients_from_timeseries

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


def _subjects_in(path: Path) -> tuple[list[np.ndarray], list[str]]:
    if path.is_file():
        subjects = read_series(path)
        return subjects, [f"{path.stem}_{i}" if len(subjects) > 1 else path.stem for i in range(len(subjects))]
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in SERIES_SUFFIXES and p.name != "labels.csv")
    if not files:
        raise FileNotFoundError(f"{path} holds no ROI time series files ({', '.join(SERIES_SUFFIXES)})")
    subjects, names = [], []
    for file in files:
        found = read_series(file)
        subjects += found
        names += [file.stem] if len(found) == 1 else [f"{file.stem}_{i}" for i in range(len(found))]
    return subjects, names


def _from_hf_dataset(path: Path) -> tuple[list[np.ndarray], list[str], pd.DataFrame | None]:
    import datasets

    table = datasets.load_from_disk(str(path))
    if isinstance(table, datasets.DatasetDict):
        table = datasets.concatenate_datasets(list(table.values()))
    if "time_series" not in table.column_names:
        raise ValueError(f"{path}: a datasets folder needs a 'time_series' column, found {table.column_names}")
    subjects = [np.asarray(s, dtype=np.float64) for s in table["time_series"]]
    names = [str(i) for i in range(len(subjects))]
    columns = {c: table[c] for c in ("label", "trait") if c in table.column_names}
    return subjects, names, pd.DataFrame(columns, index=names) if columns else None


def load_dataset(
    path: str,
    split: str,
    config: BrainJepaConfig,
    processor: BrainJepaProcessor | None = None,
    test_every: int = 5,
) -> RoiTimeSeriesDataset:
    """ROI time series from a file, a folder of files (one subject each, optional `labels.csv` with columns
    subject,label,trait), or a `datasets.save_to_disk` folder (`time_series`, optional `label`, `trait`).

    Folders with `train/` and `test/` subfolders are used as they are; otherwise every `test_every`-th subject is
    the test split ("all": every subject). Series may be ROIs × time or time × ROIs (found by `num_rois`); robust
    scaling is fitted on the training split unless a processor is given; the first `num_frames` frames are used.
    """
    _check_split(split)
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if (root / "train").is_dir() and (root / "test").is_dir():
        loaded = {name: _load_all(root / name) for name in ("train", "test")}
        train_subjects = loaded["train"][0]
        chosen = ("train", "test") if split == "all" else (split,)
        subjects = [s for name in chosen for s in loaded[name][0]]
        names = [n for name in chosen for n in loaded[name][1]]
        tables = [loaded[name][2] for name in chosen]
        labels = None if any(t is None for t in tables) else pd.concat(tables)
    else:
        all_subjects, all_names, labels = _load_all(root)
        is_test = [i % test_every == test_every - 1 for i in range(len(all_subjects))]
        if len(all_subjects) < 2:
            raise ValueError(f"{path} holds {len(all_subjects)} subject; a train/test split needs at least 2")
        train_subjects = [s for s, t in zip(all_subjects, is_test, strict=True) if not t]
        chosen = [i for i, t in enumerate(is_test) if split == "all" or t == (split == "test")]
        subjects, names = [all_subjects[i] for i in chosen], [all_names[i] for i in chosen]
    _check_num_rois(subjects, config, path)
    if processor is None:
        processor = BrainJepaProcessor.from_config(config).fit(train_subjects)
    series = _process(subjects, processor)
    label_tensor = trait_tensor = None
    if labels is not None:
        missing = [n for n in names if n not in labels.index]
        if missing:
            raise ValueError(f"labels.csv has no row for subjects {missing[:5]}")
        if "label" in labels.columns:
            label_tensor = torch.as_tensor(labels.loc[names, "label"].to_numpy(), dtype=torch.long)
        if "trait" in labels.columns:
            trait_tensor = torch.as_tensor(labels.loc[names, "trait"].to_numpy(), dtype=torch.float32)
    return RoiTimeSeriesDataset(series, label_tensor, trait_tensor, names, processor)


def _check_num_rois(subjects: list[np.ndarray], config: BrainJepaConfig, path: str) -> None:
    """Data whose ROI count is not `num_rois`: name the value to set (the axis every subject shares)."""
    shapes = [np.shape(s) for s in subjects]
    if not shapes or any(len(shape) != 2 for shape in shapes):
        return  # the processor names the problem
    if any(config.num_rois in shape for shape in shapes):
        return
    shared = [axis for axis in (0, 1) if len({shape[axis] for shape in shapes}) == 1]
    guess = shapes[0][shared[0]] if len(shared) == 1 else min(shapes[0])
    raise ConfigFieldError(
        f"{path}: the subjects' series are shaped {shapes[0]}, with no axis of num_rois={config.num_rois} ROIs; "
        "build the model for your parcellation (its brain gradients are computed from the training subjects)",
        "num_rois",
        guess,
    )


def _load_all(path: Path) -> tuple[list[np.ndarray], list[str], pd.DataFrame | None]:
    if path.is_dir() and any((path / name).is_file() for name in ("dataset_info.json", "dataset_dict.json")):
        return _from_hf_dataset(path)
    subjects, names = _subjects_in(path)
    return subjects, names, _read_labels(path if path.is_dir() else path.parent)


def embeddings(encoder, dataset: RoiTimeSeriesDataset, batch_size: int = 64) -> torch.Tensor:
    """Mean-pooled encoder embeddings (N, D) of a data set (the probes' features)."""
    from jepa_core.evaluation import extract_embeddings

    batches = [{"time_series": dataset.time_series[i : i + batch_size]} for i in range(0, len(dataset), batch_size)]
    features, _ = extract_embeddings(
        encoder, batches, input_keys=["time_series"], num_prefix_tokens=encoder.config.num_register_tokens
    )
    return features


def extra_metrics(encoder, train: RoiTimeSeriesDataset, test: RoiTimeSeriesDataset) -> dict[str, float]:
    """The trait regression (a ridge probe of the mean-pooled embeddings): Pearson's ρ and R² on the test split."""
    if getattr(train, "traits", None) is None or getattr(test, "traits", None) is None:
        return {}
    return regression_probe(embeddings(encoder, train), train.traits, embeddings(encoder, test), test.traits)


def prepare_model(model, dataset: RoiTimeSeriesDataset) -> None:
    """Brain gradients from the training subjects of the user's data (the embedded cohort's are built in)."""
    if getattr(dataset, "embedded", False):
        return
    config = model.config
    series = [subject.double().numpy() for subject in dataset.time_series]
    gradients = brain_gradients_from_timeseries(
        series, config.gradient_components, config.gradient_alpha, config.gradient_sparsity
    )
    model.set_brain_gradients(gradients)


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
