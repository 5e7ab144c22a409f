"""ECG data: the embedded neurokit2 simulation, WFDB records, the PTB-XL layout and NumPy arrays.

Every loader returns an `EcgRecords` data set of processed records (leads, samples at 500 Hz) with optional
multi-label targets; it serves `crop_length`-sample crops (random ones for training, the first one otherwise).
"""

import ast
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .configuration_ecg_jepa import STANDARD_LEADS, EcgJepaConfig
from .processor_ecg_jepa import EcgJepaProcessor, EcgSignalError
from .simulation import SIMULATED_CONDITIONS, simulate_record

PTBXL_FOLDS = {"train": tuple(range(1, 9)), "val": (9,), "test": (10,)}
PTBXL_TASKS = ("all", "diagnostic", "superdiagnostic", "form", "rhythm")
SIMULATION_VERSION = 2
SIMULATED_SPLITS = {"train": 256, "val": 128, "test": 512}


class EcgRecords(Dataset):
    """Processed records with optional labels (N, C); item = {"input_values": (leads, crop_length), "labels"}."""

    def __init__(
        self,
        records: Sequence[torch.Tensor],
        crop_length: int,
        labels: torch.Tensor | None = None,
        label_names: Sequence[str] = (),
        random_crop: bool = True,
        processor: EcgJepaProcessor | None = None,
    ):
        short = [i for i, r in enumerate(records) if r.shape[-1] < crop_length]
        if short:
            raise EcgSignalError(
                f"{len(short)} record(s) (first: #{short[0]}, {records[short[0]].shape[-1]} samples) are shorter than "
                f"the {crop_length}-sample input; use a preset with a shorter signal_length or drop them"
            )
        if labels is not None and len(labels) != len(records):
            raise ValueError(f"{len(labels)} label rows for {len(records)} records")
        self.records, self.crop_length, self.labels = list(records), crop_length, labels
        self.label_names, self.random_crop, self.processor = list(label_names), random_crop, processor

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        start = 0
        if self.random_crop and record.shape[-1] > self.crop_length:
            start = int(torch.randint(record.shape[-1] - self.crop_length + 1, (1,)))
        sample = {"input_values": record[:, start : start + self.crop_length]}
        if self.labels is not None:
            sample["labels"] = self.labels[index]
        return sample


# -- the embedded default: 12-lead ECG simulated with neurokit2's ECGSYN model (simulation.py) ---------------------
def _cache_dir() -> Path:
    return Path(os.environ.get("JEPA_ECG_CACHE", Path.home() / ".cache" / "jepa-ecg"))


SIMULATION_CHUNK = 64


def _simulated_chunk(chunk: int, duration: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    path = _cache_dir() / f"simulated-v{SIMULATION_VERSION}-{duration:g}s-seed{seed}-chunk{chunk}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            return stored["signals"], stored["labels"]
    rng = np.random.default_rng([seed, chunk])
    pairs = [simulate_record(rng, duration) for _ in range(SIMULATION_CHUNK)]
    signals, labels = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(partial, signals=signals, labels=labels)
    partial.replace(path)
    return signals, labels


def simulated_ecg(num_records: int, duration: float = 10.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(signals (N, 12, duration·500) in mV, labels (N, 5)); the first n records are the same for every N ≥ n.

    Records are simulated in chunks of 64 (about 20 ms a record) and cached as .npz under $JEPA_ECG_CACHE (default
    ~/.cache/jepa-ecg).
    """
    chunks = [_simulated_chunk(k, duration, seed) for k in range(-(-num_records // SIMULATION_CHUNK))]
    signals = np.concatenate([c[0] for c in chunks])[:num_records]
    return signals, np.concatenate([c[1] for c in chunks])[:num_records]


def simulated_dataset(split: str, config: EcgJepaConfig, num_records: int | None = None) -> EcgRecords:
    """The embedded data (`SIMULATED_SPLITS` 10-s records by default), normalised with train-split statistics."""
    if split not in SIMULATED_SPLITS:
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    duration = max(10.0, config.signal_length / config.sampling_rate)
    train_signals, _ = simulated_ecg(32, duration, seed=0)
    processor = EcgJepaProcessor.from_config(config).fit(train_signals, 500, STANDARD_LEADS)
    signals, labels = simulated_ecg(
        num_records or SIMULATED_SPLITS[split], duration, seed={"train": 0, "val": 2, "test": 1}[split]
    )
    records = [processor(s, 500, STANDARD_LEADS) for s in signals]
    return EcgRecords(records, config.signal_length, torch.from_numpy(labels), SIMULATED_CONDITIONS,
                      random_crop=split == "train", processor=processor)  # fmt: skip


# -- WFDB records ---------------------------------------------------------------------------------------------------
def _header_sampling_rate(header: Path) -> None:
    for line in header.read_text(errors="replace").splitlines():
        if line.strip() and not line.startswith("#"):
            if len(line.split()) < 3:
                raise EcgSignalError(
                    f"{header} gives no sample rate (record line {line.strip()!r}); wfdb would assume 250 Hz. "
                    "Add the rate as the third field of the record line"
                )
            return


def read_wfdb(record: str | Path) -> tuple[np.ndarray, float, list[str]]:
    """Read a WFDB record (path with or without .hea) → (signal (leads, samples) in physical units, fs, lead names)."""
    import wfdb

    base = Path(str(record).removesuffix(".hea").removesuffix(".dat"))
    header = base.with_suffix(".hea")
    if not header.is_file():
        raise FileNotFoundError(f"WFDB header {header} not found")
    _header_sampling_rate(header)
    try:
        data = wfdb.rdrecord(str(base))
    except Exception as error:
        raise EcgSignalError(
            f"cannot read WFDB record {base} ({type(error).__name__}: {error}); the .dat file may be truncated or "
            "corrupt, download it again"
        ) from error
    if data.p_signal is None or data.p_signal.shape[0] != data.sig_len:
        got = 0 if data.p_signal is None else data.p_signal.shape[0]
        raise EcgSignalError(f"WFDB record {base} holds {got} samples but its header promises {data.sig_len}; "
                             "the .dat file is truncated")  # fmt: skip
    return data.p_signal.T.astype(np.float64), float(data.fs), list(data.sig_name)


def wfdb_folder_dataset(folder: Path, config: EcgJepaConfig, processor: EcgJepaProcessor | None = None) -> EcgRecords:
    """Every WFDB record under `folder` (unlabelled), normalised with `processor` or statistics fitted on them."""
    headers = sorted(folder.rglob("*.hea"))
    if not headers:
        raise FileNotFoundError(f"no WFDB records (.hea) under {folder}")
    raw = [read_wfdb(h) for h in headers]
    processor = processor or _fit_on(raw, config)
    records = [processor(s, fs, names) for s, fs, names in raw]
    return EcgRecords(records, config.signal_length, processor=processor)


def _fit_on(raw: Sequence[tuple[np.ndarray, float, list[str]]], config: EcgJepaConfig) -> EcgJepaProcessor:
    processor = EcgJepaProcessor.from_config(config)
    prepared = [processor.prepare(s, fs, names)[0] for s, fs, names in raw]
    stacked = np.concatenate(prepared, axis=1)
    return EcgJepaProcessor.from_config(config, lead_mean=stacked.mean(1), lead_std=np.maximum(stacked.std(1), 1e-6))


# -- PTB-XL ---------------------------------------------------------------------------------------------------------
def ptbxl_labels(database, statements, task: str = "all") -> tuple[list[list[str]], list[str]]:
    """Per record the label list of `task` from `scp_codes`, and the sorted class names over the whole database."""
    if task not in PTBXL_TASKS:
        raise ValueError(f"task must be one of {PTBXL_TASKS}, got {task!r}")
    codes = [ast.literal_eval(text) if isinstance(text, str) else {} for text in database["scp_codes"]]
    if task == "all":
        keep = {code: code for code in statements.index}
    elif task == "superdiagnostic":
        diagnostic = statements[statements["diagnostic"] == 1]
        keep = {code: cls for code, cls in diagnostic["diagnostic_class"].items() if isinstance(cls, str)}
    else:
        keep = {code: code for code in statements.index[statements[task] == 1]}
    per_record = [sorted({keep[c] for c in record if c in keep}) for record in codes]
    return per_record, sorted({label for labels in per_record for label in labels})


def ptbxl_dataset(
    root: str | Path,
    split: str,
    config: EcgJepaConfig,
    task: str = "all",
    processor: EcgJepaProcessor | None = None,
    max_fit_records: int = 500,
) -> EcgRecords:
    """A PTB-XL tree (ptbxl_database.csv, scp_statements.csv, records500/): folds 1–8 train, 9 val, 10 test.

    Records without a label of `task` are dropped (as the benchmark does). Without `processor`, per-lead
    statistics are fitted on up to `max_fit_records` training records.
    """
    import pandas as pd

    root = Path(root)
    if split not in PTBXL_FOLDS:
        raise ValueError(f"split must be one of {tuple(PTBXL_FOLDS)}, got {split!r}")
    for name in ("ptbxl_database.csv", "scp_statements.csv"):
        if not (root / name).is_file():
            raise FileNotFoundError(f"{root} is not a PTB-XL folder: {name} is missing")
    database = pd.read_csv(root / "ptbxl_database.csv", index_col="ecg_id")
    statements = pd.read_csv(root / "scp_statements.csv", index_col=0)
    labels, classes = ptbxl_labels(database, statements, task)
    database = database.assign(labels=labels)
    database = database[database["labels"].map(len) > 0]
    if processor is None:
        train = database[database["strat_fold"].isin(PTBXL_FOLDS["train"])]
        raw = [read_wfdb(root / f) for f in train["filename_hr"].iloc[:max_fit_records]]
        if not raw:
            raise ValueError(f"{root} has no labelled training records (folds 1–8) to fit the normalisation on")
        processor = _fit_on(raw, config)
    rows = database[database["strat_fold"].isin(PTBXL_FOLDS[split])]
    records = [processor(*read_wfdb(root / f)) for f in rows["filename_hr"]]
    targets = torch.zeros(len(rows), len(classes))
    for i, record_labels in enumerate(rows["labels"]):
        targets[i, [classes.index(label) for label in record_labels]] = 1.0
    return EcgRecords(records, config.signal_length, targets, classes, split == "train", processor)


# -- NumPy arrays ---------------------------------------------------------------------------------------------------
def numpy_dataset(path: Path, split: str, config: EcgJepaConfig) -> EcgRecords:
    """An .npz with `signals` (N, leads, samples) and `sampling_rate`; optional `lead_names`, `labels` (N, C),
    `label_names` and `split` (N strings). Without `split`, a fixed 80/20 split by record index is used."""
    if path.suffix == ".npy":
        raise EcgSignalError(
            f"{path}: a .npy array carries no sample rate; save an .npz with signals=..., sampling_rate=..."
        )
    with np.load(path, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    if "signals" not in arrays or "sampling_rate" not in arrays:
        raise EcgSignalError(f"{path} must hold 'signals' (N, leads, samples) and 'sampling_rate' (Hz); found "
                             f"{sorted(arrays)}")  # fmt: skip
    signals, fs = arrays["signals"], float(arrays["sampling_rate"])
    if signals.ndim != 3:
        raise EcgSignalError(f"{path}: 'signals' must be (records, leads, samples), got shape {signals.shape}")
    names = arrays["lead_names"].tolist() if "lead_names" in arrays else None
    if "split" in arrays:
        train_mask, chosen = arrays["split"] == "train", arrays["split"] == split
    else:
        train_mask = np.array([zlib.crc32(str(i).encode()) % 5 != 0 for i in range(len(signals))], dtype=bool)
        chosen = train_mask if split == "train" else ~train_mask
    fit_signals = signals[train_mask][:500] if train_mask.any() else signals[:500]
    processor = _fit_on([(s, fs, names) for s in fit_signals], config)
    records = [processor(s, fs, names) for s in signals[chosen]]
    labels = torch.from_numpy(arrays["labels"][chosen]).float() if "labels" in arrays else None
    label_names = arrays["label_names"].tolist() if "label_names" in arrays else []
    return EcgRecords(records, config.signal_length, labels, label_names, split == "train", processor)


def load_dataset(path: str | Path, split: str, config: EcgJepaConfig) -> EcgRecords:
    """A user's data: a PTB-XL folder, a folder of WFDB records, or an .npz of arrays."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir() and (path / "ptbxl_database.csv").is_file():
        return ptbxl_dataset(path, split, config)
    if path.is_dir():
        return wfdb_folder_dataset(path, config)
    if path.suffix in (".npz", ".npy"):
        return numpy_dataset(path, split, config)
    raise ValueError(f"{path}: expected a PTB-XL folder, a folder of WFDB records or an .npz file")
