"""Data: the embedded synthetic cohort (seeded by real fMRI from nitime), loaders for real ROI time series, probes.

The embedded default: nitime ships 250 TRs of a real 31-ROI resting fMRI series. Its functional connectivity is
the template network; its two leading modules (sign of the first brain gradient) define three network
structures (the probe's classes): 0 = template, 1 = stronger coupling inside module A, 2 = modules A and B
decoupled. Each subject draws a class, a trait in [0, 1] (a continuous "dedifferentiation" that pulls the network
towards independence, probed by regression) and nuisance factors (temporal smoothness, ROI amplitudes, its own
random connectivity deviation); its series is a Gaussian AR(1) process with that connectivity.
"""

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import io as scipy_io
from scipy import signal
from torch.utils.data import Dataset

from .configuration_brain_jepa import BrainJepaConfig
from .processor_brain_jepa import BrainJepaProcessor, brain_gradients, functional_connectivity

EMBEDDED_NUM_ROIS = 31
EMBEDDED_REPETITION_TIME = 1.89  # seconds, as nitime's examples state for fmri_timeseries.csv
SERIES_SUFFIXES = (".npy", ".csv", ".tsv", ".mat")
BURN_IN = 30  # AR(1) frames dropped so that every series starts stationary
MAT_KEYS = ("time_series", "timeseries", "roi_timeseries", "ts", "data")


def nitime_fmri() -> np.ndarray:
    """The real resting fMRI series that nitime ships: (31 ROIs, 250 TRs), ROI names in `nitime_roi_names()`."""
    spec = importlib.util.find_spec("nitime")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the embedded data set needs the nitime package (pip install nitime)")
    path = Path(spec.submodule_search_locations[0]) / "data" / "fmri_timeseries.csv"
    return pd.read_csv(path).to_numpy(dtype=np.float64).T


@functools.lru_cache(maxsize=1)
def template_connectivity() -> np.ndarray:
    return functional_connectivity(nitime_fmri())


@functools.lru_cache(maxsize=8)
def _embedded_gradients(num_components: int, alpha: float, sparsity: float) -> np.ndarray:
    return brain_gradients(template_connectivity(), num_components, alpha, sparsity)


def embedded_brain_gradients(config: BrainJepaConfig) -> np.ndarray:
    """Group gradients of the embedded cohort's template network, with the config's gradient settings."""
    return _embedded_gradients(config.gradient_components, config.gradient_alpha, config.gradient_sparsity).copy()


def _nearest_correlation(matrix: np.ndarray, floor: float = 0.05) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    matrix = (vectors * np.maximum(values, floor)) @ vectors.T
    scale = np.sqrt(np.diag(matrix))
    return matrix / np.outer(scale, scale)


def class_networks() -> list[np.ndarray]:
    """The three network structures (correlation matrices) of the embedded cohort's classes."""
    template = template_connectivity()
    module_a = _embedded_gradients(1, 0.5, 0.9)[:, 0] > 0
    inside_a = np.outer(module_a, module_a)
    between = np.outer(module_a, ~module_a) | np.outer(~module_a, module_a)
    stronger = np.where(inside_a, template + 0.35 * (1 - template), template)
    decoupled = np.where(between, 0.1 * template, template)
    return [_nearest_correlation(c) for c in (template, stronger, decoupled)]


def simulate_cohort(num_subjects: int, num_frames: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Synthetic subjects → {"time_series" (N, 31, T), "labels" (N,), "traits" (N,)}.

    Innovations have covariance `(1 − 0.6·trait)·network[label] + 0.6·trait·I + u uᵀ` (u: the subject's own
    random rank-1 deviation), filtered by an AR(1) of random smoothness and scaled by random ROI amplitudes.
    """
    rng = np.random.default_rng(seed)
    factors = np.stack([np.linalg.cholesky(network) for network in class_networks()])
    num_rois, length = factors.shape[1], num_frames + BURN_IN
    labels = rng.integers(0, len(factors), num_subjects)
    traits = rng.uniform(0, 1, num_subjects)
    weight = 0.6 * traits[:, None, None]
    network_part = np.einsum("nrk,nkt->nrt", factors[labels], rng.normal(size=(num_subjects, num_rois, length)))
    deviation = rng.normal(0, 0.3, (num_subjects, num_rois, 1)) * rng.normal(size=(num_subjects, 1, length))
    innovations = np.sqrt(1 - weight) * network_part + np.sqrt(weight) * rng.normal(size=network_part.shape)
    innovations += deviation
    smoothness = rng.uniform(0.5, 0.85, num_subjects)
    amplitude = rng.lognormal(0, 0.2, (num_subjects, num_rois, 1))
    series = np.stack(
        [
            signal.lfilter([np.sqrt(1 - rho**2)], [1, -rho], x, axis=1)
            for rho, x in zip(smoothness, innovations, strict=True)
        ]
    )
    return {"time_series": amplitude * series[:, :, BURN_IN:], "labels": labels, "traits": traits}


class RoiTimeSeriesDataset(Dataset):
    """Processed subjects: `time_series` (R, T) float32, plus `labels` / `traits` when known."""

    def __init__(
        self, time_series: torch.Tensor, labels: torch.Tensor | None = None, traits: torch.Tensor | None = None
    ):
        self.time_series, self.labels, self.traits = time_series, labels, traits

    def __len__(self) -> int:
        return len(self.time_series)

    def __getitem__(self, index: int) -> dict:
        sample = {"time_series": self.time_series[index]}
        if self.labels is not None:
            sample["labels"] = self.labels[index]
        if self.traits is not None:
            sample["traits"] = self.traits[index]
        return sample


def _process(subjects: Sequence, processor: BrainJepaProcessor) -> torch.Tensor:
    if not subjects:
        raise ValueError("no subjects to process")
    return torch.stack([processor(s) for s in subjects])


def default_dataset(split: str, config: BrainJepaConfig) -> RoiTimeSeriesDataset:
    """The embedded cohort: 512 training / 256 test subjects; robust scaling fitted on the training split."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if config.num_rois != EMBEDDED_NUM_ROIS:
        raise ValueError(
            f"the embedded data set has {EMBEDDED_NUM_ROIS} ROIs but the config has num_rois={config.num_rois}; "
            "use the tiny preset (or num_rois=31), or pass your own data"
        )
    return _default_dataset(split, config.num_frames, config.patch_size)


@functools.lru_cache(maxsize=4)
def _default_dataset(split: str, num_frames: int, patch_size: int) -> RoiTimeSeriesDataset:
    train = simulate_cohort(512, num_frames, seed=0)
    cohort = train if split == "train" else simulate_cohort(256, num_frames, seed=1)
    processor = BrainJepaProcessor(EMBEDDED_NUM_ROIS, num_frames, patch_size, layout="roi_time")
    processor.fit(list(train["time_series"]))
    return RoiTimeSeriesDataset(
        _process(list(cohort["time_series"]), processor),
        torch.from_numpy(cohort["labels"]),
        torch.from_numpy(cohort["traits"]).float(),
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


def load_dataset(path: str, split: str, config: BrainJepaConfig, test_every: int = 5) -> RoiTimeSeriesDataset:
    """ROI time series from a file, a folder of files (one subject each, optional `labels.csv` with columns
    subject,label,trait), or a `datasets.save_to_disk` folder (`time_series`, optional `label`, `trait`).

    Folders with `train/` and `test/` subfolders are used as they are; otherwise every `test_every`-th subject is
    the test split. Series may be ROIs × time or time × ROIs (found by `num_rois`); robust scaling is fitted on the
    training split; the first `num_frames` frames are used.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if (root / "train").is_dir() and (root / "test").is_dir():
        train_subjects, _, _ = _load_all(root / "train")
        subjects, names, labels = _load_all(root / split)
    else:
        all_subjects, all_names, labels = _load_all(root)
        is_test = [i % test_every == test_every - 1 for i in range(len(all_subjects))]
        if len(all_subjects) < 2:
            raise ValueError(f"{path} holds {len(all_subjects)} subject; a train/test split needs at least 2")
        train_subjects = [s for s, t in zip(all_subjects, is_test, strict=True) if not t]
        chosen = [i for i, t in enumerate(is_test) if t == (split == "test")]
        subjects, names = [all_subjects[i] for i in chosen], [all_names[i] for i in chosen]
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
    return RoiTimeSeriesDataset(series, label_tensor, trait_tensor)


def _load_all(path: Path) -> tuple[list[np.ndarray], list[str], pd.DataFrame | None]:
    if path.is_dir() and any((path / name).is_file() for name in ("dataset_info.json", "dataset_dict.json")):
        return _from_hf_dataset(path)
    subjects, names = _subjects_in(path)
    return subjects, names, _read_labels(path if path.is_dir() else path.parent)


def embeddings(encoder, dataset: RoiTimeSeriesDataset, batch_size: int = 64) -> torch.Tensor:
    """Mean-pooled encoder embeddings (N, D) of a data set."""
    from jepa_core.evaluation import extract_embeddings

    batches = [{"time_series": dataset.time_series[i : i + batch_size]} for i in range(0, len(dataset), batch_size)]
    features, _ = extract_embeddings(
        encoder, batches, input_keys=["time_series"], num_prefix_tokens=encoder.config.num_register_tokens
    )
    return features


def evaluate(encoder, config: BrainJepaConfig, data: str | None = None) -> dict[str, float]:
    """Linear probes on frozen mean-pooled embeddings: class accuracy (headline), F1, trait Pearson ρ and R²."""
    from jepa_core.evaluation import linear_probe

    if data is None:
        train, test = default_dataset("train", config), default_dataset("test", config)
    else:
        train, test = load_dataset(data, "train", config), load_dataset(data, "test", config)
    if train.labels is None and train.traits is None:
        raise ValueError(f"{data} has no labels or traits to probe; add a labels.csv (subject,label,trait)")
    train_x, test_x = embeddings(encoder, train), embeddings(encoder, test)
    metrics = {}
    if train.labels is not None:
        result = linear_probe(train_x, train.labels, test_x, test.labels)
        metrics.update(probe_accuracy=result["accuracy"], probe_f1_macro=result["f1_macro"])
    if train.traits is not None:
        result = linear_probe(train_x, train.traits, test_x, test.traits, task="regression")
        prediction = _ridge_predictions(train_x, train.traits, test_x, result["alpha"])
        pearson = float(np.corrcoef(prediction, test.traits.numpy())[0, 1])
        metrics.update(trait_pearson_r=pearson, trait_r2=result["r2"])
    return metrics


def _ridge_predictions(train_x, train_y, test_x, alpha: float) -> np.ndarray:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(train_x.numpy(), train_y.numpy())
    return model.predict(test_x.numpy())
