"""ECG data: the embedded neurokit2 simulation, WFDB records, the PTB-XL layout and NumPy arrays.

Every loader returns an `EcgRecords` data set of processed records (leads, samples at the model's rate) with
optional multi-label targets, class names and record ids; it serves `crop_length`-sample crops (random ones for
training, the first one otherwise) and carries the processor that normalised it. Splits: "train", "test", "all"
(every record, for `jepa embed`) and "val" (fine-tuning). Without a processor, the statistics are fitted on the
training records; with one (a saved run's), it is used as it is.
"""

import ast
import functools
import logging
import math
import os
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from jepa_core.streams import FIT_RECORDS, Column, Shards, StreamFormat, find_shards, shard_table
from torch.utils.data import Dataset

from .configuration_ecg_jepa import STANDARD_LEADS, EcgConfigBase
from .processor_ecg_jepa import EcgConfigFieldError, EcgJepaProcessor, EcgSignalError
from .simulation import SIMULATED_CONDITIONS, simulate_record

PTBXL_FOLDS = {"train": tuple(range(1, 9)), "val": (9,), "test": (10,), "all": tuple(range(1, 11))}
PTBXL_TASKS = ("all", "diagnostic", "superdiagnostic", "form", "rhythm")
SIMULATION_VERSION = 2
SIMULATED_SPLITS = {"train": 256, "val": 128, "test": 512}
SIMULATED_SEEDS = {"train": 0, "val": 2, "test": 1}


class OnDemand(Sequence):
    """A sequence whose item i is `read(keys[i])`, read again at every access (nothing is kept): the records of a
    user's files, which memory need not hold. `lengths` (optional) are the items' lengths, known up front."""

    def __init__(self, read: Callable, keys: Sequence, lengths: Sequence[int] | None = None):
        self.read, self.keys, self.lengths = read, list(keys), None if lengths is None else list(lengths)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.read(key) for key in self.keys[index]]
        return self.read(self.keys[index])


class EcgRecords(Dataset):
    """Processed records with optional multi-hot labels (N, C); item = {"input_values": (leads, crop_length),
    "labels"}. `class_names` name the label columns, `ids` the records. `records` are tensors, or an `OnDemand`
    sequence that reads and processes each record from its file when it is used."""

    def __init__(
        self,
        records: Sequence[torch.Tensor],
        crop_length: int,
        labels: torch.Tensor | None = None,
        label_names: Sequence[str] = (),
        random_crop: bool = True,
        processor: EcgJepaProcessor | None = None,
        ids: Sequence[str] | None = None,
        patch_size: int = 1,
    ):
        lengths = records.lengths if isinstance(records, OnDemand) else [r.shape[-1] for r in records]
        short = [i for i, n in enumerate(lengths) if n < crop_length]
        if short:
            shortest = min(lengths[i] for i in short)
            raise EcgConfigFieldError(
                f"{len(short)} record(s) (first: #{short[0]}, {lengths[short[0]]} samples) are shorter than "
                f"the {crop_length}-sample input (signal_length); drop them, or train on shorter inputs",
                "signal_length",
                max(patch_size, shortest // patch_size * patch_size),
            )
        if labels is not None and len(labels) != len(records):
            raise ValueError(f"{len(labels)} label rows for {len(records)} records")
        self.records = records if isinstance(records, OnDemand) else list(records)
        self.crop_length, self.labels = crop_length, labels
        self.label_names, self.random_crop, self.processor = list(label_names), random_crop, processor
        self.ids = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(self.records))]
        if len(self.ids) != len(self.records):
            raise ValueError(f"{len(self.ids)} ids for {len(self.records)} records")
        # long recordings give many samples: ceil(L / crop) random crops per epoch when training (as the core's
        # `Windows`); evaluation and `jepa embed` average each record's strided crops (evaluation.embed)
        per_record = [math.ceil(n / crop_length) if random_crop else 1 for n in lengths]
        self.items = [i for i, n in enumerate(per_record) for _ in range(n)]

    @property
    def lead_names(self) -> list[str] | None:
        return None if self.processor is None else list(self.processor.lead_names)

    @property
    def class_names(self) -> list[str] | None:
        return self.label_names or None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        index = self.items[index]
        record = self.records[index]
        crop = _random_crop(record, self.crop_length) if self.random_crop else record[:, : self.crop_length]
        sample = {"input_values": crop}
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


def simulated_dataset(
    split: str, config: EcgConfigBase, processor: EcgJepaProcessor | None = None, num_records: int | None = None
) -> EcgRecords:
    """The embedded data (`SIMULATED_SPLITS` 10-s records by default; "all" = the train and test records),
    normalised with `processor`, or with statistics fitted on the first 32 training records."""
    if split not in (*SIMULATED_SPLITS, "all"):
        raise ValueError(f"split must be 'train', 'test', 'all' or 'val', got {split!r}")
    duration = max(10.0, config.signal_length / config.sampling_rate)
    if processor is None:
        train_signals, _ = simulated_ecg(32, duration, seed=0)
        processor = EcgJepaProcessor.from_config(config).fit(train_signals, 500, STANDARD_LEADS)
    parts = ("train", "test") if split == "all" else (split,)
    records, labels, ids = [], [], []
    for part in parts:
        signals, part_labels = simulated_ecg(num_records or SIMULATED_SPLITS[part], duration, SIMULATED_SEEDS[part])
        records += [processor.process(s, 500, STANDARD_LEADS) for s in signals]
        labels.append(torch.from_numpy(part_labels))
        ids += [f"{part}-{i:04d}" for i in range(len(signals))]
    return EcgRecords(
        records, config.signal_length, torch.cat(labels), SIMULATED_CONDITIONS, random_crop=split == "train",
        processor=processor, ids=ids, patch_size=config.patch_size,
    )  # fmt: skip


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


def _wfdb_size(record: Path) -> tuple[int, float]:
    """(samples, rate) of a WFDB record from its header alone."""
    import wfdb

    header = wfdb.rdheader(str(record))
    return header.sig_len, float(header.fs)


def _processed(processor: EcgJepaProcessor, read: Callable, key) -> torch.Tensor:
    """One record read by `read(key)` → (signal, rate, names), processed."""
    return processor.process(*read(key))


def _fit_on(raw: Sequence[tuple[np.ndarray, float, list[str]]], config: EcgConfigBase) -> EcgJepaProcessor:
    """A processor fitted on (signal, rate, names) records (read in passes, never joined), std floored at 1e-6."""
    return EcgJepaProcessor.from_config(config).fit_records(raw, min_std=1e-6)


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
    config: EcgConfigBase,
    task: str = "all",
    processor: EcgJepaProcessor | None = None,
    max_fit_records: int = 500,
) -> EcgRecords:
    """A PTB-XL tree (ptbxl_database.csv, scp_statements.csv, records500/): folds 1–8 train, 9 val, 10 test, all.

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
        files = [root / f for f in train["filename_hr"].iloc[:max_fit_records]]
        if not files:
            raise ValueError(f"{root} has no labelled training records (folds 1–8) to fit the normalisation on")
        processor = _fit_on(OnDemand(read_wfdb, files), config)
    rows = database[database["strat_fold"].isin(PTBXL_FOLDS[split])]
    files = [root / f for f in rows["filename_hr"]]
    lengths = [processor.output_length(*_wfdb_size(f)) for f in files]
    records = OnDemand(functools.partial(_processed, processor, read_wfdb), files, lengths)
    targets = torch.zeros(len(rows), len(classes))
    for i, record_labels in enumerate(rows["labels"]):
        targets[i, [classes.index(label) for label in record_labels]] = 1.0
    ids = [str(i) for i in rows.index]
    return EcgRecords(records, config.signal_length, targets, classes, split == "train", processor, ids,
                      config.patch_size)  # fmt: skip


# -- NumPy arrays ---------------------------------------------------------------------------------------------------
def _npz_member(path: Path, name: str, stored) -> np.ndarray:
    """An array of an .npz, memory-mapped when it is stored uncompressed (`np.savez`), else read whole
    (`np.savez_compressed` compresses it: it is then in memory by nature)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{name}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        return stored[name]
    with open(path, "rb") as file:
        file.seek(info.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", file.read(4))
        file.seek(info.header_offset + 30 + name_length + extra_length)
        version = np.lib.format.read_magic(file)
        if version not in ((1, 0), (2, 0)):
            return stored[name]
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(file)
        offset = file.tell()
    if dtype.hasobject:
        return stored[name]
    return np.memmap(path, dtype, "r", offset, shape, "F" if fortran else "C")


def _array_record(signals: np.ndarray, rate: float, names, row: int) -> tuple[np.ndarray, float, list[str] | None]:
    return np.asarray(signals[row]), rate, names


def numpy_dataset(
    path: Path, split: str, config: EcgConfigBase, processor: EcgJepaProcessor | None = None
) -> EcgRecords:
    """An .npz with `signals` (N, leads, samples) and `sampling_rate`; optional `lead_names`, `labels` (N, C),
    `label_names` and `split` (N strings). Without `split`, a fixed 80/20 split by record index is used; "all" is
    every record. Without `processor`, the statistics are fitted on up to 500 training records."""
    with np.load(path, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files if key != "signals"}
        if "signals" in stored.files:
            arrays["signals"] = _npz_member(path, "signals", stored)
    if "signals" not in arrays or "sampling_rate" not in arrays:
        raise EcgSignalError(f"{path} must hold 'signals' (N, leads, samples) and 'sampling_rate' (Hz); found "
                             f"{sorted(arrays)}")  # fmt: skip
    signals, fs = arrays["signals"], float(arrays["sampling_rate"])
    if config.input_sampling_rate is not None and not np.isclose(fs, config.input_sampling_rate):
        raise EcgSignalError(f"{path} declares {fs:g} Hz but input_sampling_rate={config.input_sampling_rate:g}")
    if signals.ndim != 3:
        raise EcgSignalError(f"{path}: 'signals' must be (records, leads, samples), got shape {signals.shape}")
    names = arrays["lead_names"].tolist() if "lead_names" in arrays else None
    if "split" in arrays:
        train_mask, chosen = arrays["split"] == "train", arrays["split"] == split
    else:
        train_mask = np.array([zlib.crc32(str(i).encode()) % 5 != 0 for i in range(len(signals))], dtype=bool)
        chosen = train_mask if split == "train" else ~train_mask
    if split == "all":
        chosen = np.ones(len(signals), dtype=bool)
    if processor is None:
        fit_rows = np.flatnonzero(train_mask)[:500] if train_mask.any() else np.arange(min(500, len(signals)))
        processor = _fit_on(OnDemand(functools.partial(_array_record, signals, fs, names), fit_rows), config)
    rows = np.flatnonzero(chosen)
    length = processor.output_length(signals.shape[2], fs)
    read = functools.partial(_array_record, signals, fs, names)
    records = OnDemand(functools.partial(_processed, processor, read), rows, [length] * len(rows))
    labels = torch.from_numpy(arrays["labels"][chosen]).float() if "labels" in arrays else None
    label_names = arrays["label_names"].tolist() if "label_names" in arrays else []
    ids = [str(i) for i in np.flatnonzero(chosen)]
    return EcgRecords(records, config.signal_length, labels, label_names, split == "train", processor, ids,
                      config.patch_size)  # fmt: skip


# -- a user's files: WFDB records, CSV tables, .npy arrays (one record a file), with a pre-check --------------------
RECORD_SUFFIXES = (".hea", ".csv", ".npy")
LABEL_FILE = "labels.csv"
SPLIT_FOLDERS = ("train", "val", "test")
TIME_COLUMNS = {"time": 1.0, "t": 1.0, "time_s": 1.0, "seconds": 1.0, "sec": 1.0, "time_ms": 1e-3, "ms": 1e-3}
RATE_KEYS = ("sampling_rate", "sampling_frequency", "sample_rate", "fs", "hz")
DERIVED_LEADS = ("III", "aVR", "aVL", "aVF")  # from I and II (Einthoven, Goldberger); Kim et al. drop them
logger = logging.getLogger(__name__)


class RawRecord:
    """One record as read: (leads, samples) in the file's units, the declared rate (None: undeclared), the lead
    names (None: unnamed) and the labels its header gives (WFDB `# Dx:` / `# labels:`)."""

    def __init__(self, signal, rate, names, labels=()):
        self.signal, self.rate, self.names, self.labels = signal, rate, names, list(labels)


def _header_labels(header: Path) -> list[str]:
    for line in header.read_text(errors="replace").splitlines():
        match = re.match(r"#\s*(dx|labels?)\s*:\s*(.*)", line.strip(), re.IGNORECASE)
        if match:
            return [v.strip() for v in re.split(r"[,;]", match.group(2)) if v.strip()]
    return []


def _csv_rate(lines: list[str]) -> float | None:
    for line in lines:
        match = re.match(r"#\s*([A-Za-z_ ]+?)\s*[=:]\s*([0-9.eE+-]+)\s*(hz)?\s*$", line.strip(), re.IGNORECASE)
        if match and match.group(1).strip().lower().replace(" ", "_") in RATE_KEYS:
            return float(match.group(2))
    return None


def read_csv_record(path: Path) -> RawRecord:
    """A CSV table, one column a lead (named by the header: I, II, …, V6), samples in rows. The rate comes from a
    time column (`time`/`t`/`seconds` in s, `time_ms`/`ms` in ms), a `sampling_rate` column or a `# sampling_rate=
    1000` line before the header; else from `input_sampling_rate`. A header-less table has unnamed leads."""
    import pandas as pd

    comments = [line for line in path.read_text(errors="replace").splitlines()[:50] if line.startswith("#")]
    rate = _csv_rate(comments)
    table = pd.read_csv(path, comment="#")
    if all(_is_number(c) for c in table.columns):
        table = pd.read_csv(path, comment="#", header=None)
        names = None
    else:
        names = [str(c).strip() for c in table.columns]
    if names is not None:
        lower = [n.lower() for n in names]
        for column, scale in TIME_COLUMNS.items():
            if column in lower:
                time = table.iloc[:, lower.index(column)].to_numpy(dtype=np.float64) * scale
                steps = np.diff(time)
                if len(steps) == 0 or not np.all(steps > 0):
                    raise EcgSignalError(f"its time column {names[lower.index(column)]!r} is not increasing")
                if np.ptp(steps) > 0.01 * np.median(steps):
                    raise EcgSignalError(f"its time column {names[lower.index(column)]!r} is not evenly spaced; "
                                         "resample the record to a fixed rate first")  # fmt: skip
                found = 1.0 / float(np.median(steps))
                if rate is not None and not np.isclose(rate, found, rtol=0.01):
                    raise EcgSignalError(f"its header says {rate:g} Hz but its time column gives {found:g} Hz")
                rate, table = found, table.drop(columns=table.columns[lower.index(column)])
                break
        lower = [str(c).strip().lower() for c in table.columns]
        for key in RATE_KEYS:
            if key in lower:
                column = table.iloc[:, lower.index(key)].to_numpy(dtype=np.float64)
                if np.ptp(column) != 0:
                    raise EcgSignalError(f"its {key!r} column changes within the file")
                rate, table = float(column[0]), table.drop(columns=table.columns[lower.index(key)])
                break
        names = [str(c).strip() for c in table.columns]
    text = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if text:
        raise EcgSignalError(f"column(s) {[str(c) for c in text]} are not numbers; keep only lead columns (and a "
                             "time column)")  # fmt: skip
    return RawRecord(table.to_numpy(dtype=np.float64).T, rate, names)


def _is_number(text) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def read_npy_record(path: Path) -> RawRecord:
    """A .npy array of one record: (leads, samples), or (samples,) for a single lead; (samples, leads) with at
    most 12 columns is transposed. It carries no rate nor lead names (`input_sampling_rate`, `input_lead_names`)."""
    array = np.load(path, allow_pickle=False)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2:
        raise EcgSignalError(
            f"shape {array.shape}: a .npy must hold one record (leads, samples); save several "
            "records as several files, or as an .npz with signals (records, leads, samples)"
        )
    if array.shape[0] > 12 and array.shape[1] <= 12:
        array = array.T  # (samples, leads): a column a lead, as in a CSV
    elif array.shape[0] > 12:
        raise EcgSignalError(f"shape {array.shape} has more than 12 rows and more than 12 columns: a stack of "
                             "records? Save one record (leads, samples) a file")  # fmt: skip
    if not np.issubdtype(array.dtype, np.number):
        raise EcgSignalError(f"dtype {array.dtype} is not numeric")
    return RawRecord(array.astype(np.float64), None, None)


def read_record(path: Path) -> RawRecord:
    if path.suffix == ".hea":
        signal, rate, names = read_wfdb(path)
        return RawRecord(signal, rate, names, _header_labels(path))
    if path.suffix == ".csv":
        return read_csv_record(path)
    if path.suffix == ".npy":
        return read_npy_record(path)
    raise EcgSignalError(f"unknown format {path.suffix!r}; use WFDB (.hea + .dat), .csv or .npy")


def resolve(record: RawRecord, config: EcgConfigBase) -> RawRecord:
    """Apply `input_sampling_rate` and `input_lead_names`; raise `EcgSignalError` with the `--set` that fixes it."""
    rate, declared = record.rate, config.input_sampling_rate
    if rate is None and declared is None:
        raise EcgSignalError("it declares no sampling rate: add a time column or a `# sampling_rate=HZ` line, or "
                             "give the rate of such files with --set input_sampling_rate=HZ")  # fmt: skip
    if rate is not None and declared is not None and not np.isclose(rate, declared, rtol=0.01):
        raise EcgSignalError(f"wrong rate: it is recorded at {rate:g} Hz but input_sampling_rate={declared:g}")
    rows = record.signal.shape[0]
    names = record.names
    if config.input_lead_names is not None:
        if len(config.input_lead_names) != rows:
            raise EcgSignalError(f"it has {rows} leads but input_lead_names names {len(config.input_lead_names)}")
        names = list(config.input_lead_names)
    elif names is None:
        if rows != len(STANDARD_LEADS):
            raise EcgSignalError(f"its {rows} lead(s) are unnamed; name them with --set input_lead_names=II"
                                 f"{',V5' if rows > 1 else ''} (in file order)")  # fmt: skip
        names = list(STANDARD_LEADS)  # 12 unnamed rows: the standard order I … V6
    canonical = {lead.lower(): lead for lead in STANDARD_LEADS}
    names = [canonical.get(str(n).lower(), str(n)) for n in names]
    if len({n.lower() for n in names}) != len(names):
        raise EcgSignalError(f"its lead names {names} repeat a name")
    return RawRecord(record.signal, float(rate if rate is not None else declared), names, record.labels)


def _problem(record: RawRecord, config: EcgConfigBase, min_length: int) -> str | None:
    from jepa_core.data_checks import long_enough

    at_model_rate = int(round(record.signal.shape[1] * config.sampling_rate / record.rate))
    short = long_enough(at_model_rate, min_length, f"samples at the model's {config.sampling_rate} Hz")
    if short:
        return f"{short} (drop the file, or --set signal_length=… / eval_crop_length=… for shorter inputs)"
    for name, lead in zip(record.names, record.signal, strict=True):
        if not np.isfinite(lead).any():
            return f"lead {name} is all NaN"
        if np.nanmax(lead) == np.nanmin(lead):
            return f"lead {name} is silent (constant)"
    if np.isinf(record.signal).any():
        return f"{int(np.isinf(record.signal).sum())} infinite values"
    return None


def _record_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = [p for p in sorted(path.rglob("*")) if p.suffix in RECORD_SUFFIXES and p.name != LABEL_FILE]
    return [p for p in files if p.suffix == ".hea" or not p.with_suffix(".hea").exists()]


def choose_leads(config: EcgConfigBase, names: Sequence[Sequence[str]]) -> list[str]:
    """The model's leads for training files with these lead names: the leads every file has (in the standard
    order, then the others in file order), restricted to `lead_names` when they were set (`--set`); the per-lead
    variant drops III, aVR, aVL, aVF when I and II are there (derivable; Kim et al.)."""
    common = [n for n in names[0] if all(n.lower() in {m.lower() for m in other} for other in names[1:])]
    if not common:
        raise EcgSignalError(
            f"the files share no lead (their leads: {sorted({tuple(n) for n in names})}); use "
            "files with a common lead, or name them with --set input_lead_names=…"
        )
    rank = {lead.lower(): i for i, lead in enumerate(STANDARD_LEADS)}
    common.sort(key=lambda n: rank.get(n.lower(), len(rank)))
    preset = type(config).presets.get(config.preset or "", {})
    default = list(preset.get("lead_names") or _default_leads(config))
    if [n.lower() for n in config.lead_names] != [n.lower() for n in default]:  # set by the user
        wanted = {n.lower() for n in config.lead_names}
        chosen = [n for n in common if n.lower() in wanted]
        absent = [n for n in config.lead_names if n.lower() not in {c.lower() for c in chosen}]
        if absent:
            raise EcgConfigFieldError(f"lead_names asks for {absent}, which not every file has (common leads: "
                                      f"{common})", "lead_names", ",".join(common))  # fmt: skip
        return chosen
    lower = {n.lower() for n in common}
    if config.num_token_leads is not None and {"i", "ii"} <= lower:
        common = [n for n in common if n.lower() not in {d.lower() for d in DERIVED_LEADS}]
    dropped = sorted({n for file in names for n in file if n.lower() not in {c.lower() for c in common}})
    if dropped:
        logger.warning("leads %s are left out (not in every file, or derivable); the model uses %s", dropped, common)
    return common


def _default_leads(config: EcgConfigBase) -> list[str]:
    from .configuration_ecg_jepa import PER_LEAD_LEADS

    return list(PER_LEAD_LEADS if config.num_token_leads is not None else STANDARD_LEADS)


def _labels_table(root: Path) -> dict[str, list[str]] | None:
    """`labels.csv` beside the records: a `record` (or `id`) column of record paths without suffix and either a
    `label` column (class names, several separated by `;`) or one 0/1 column per class."""
    import pandas as pd

    file = root / LABEL_FILE
    if not file.is_file():
        return None
    table = pd.read_csv(file, dtype=str).fillna("")
    key = next((c for c in table.columns if c.lower() in ("record", "id", "file", "filename")), None)
    if key is None:
        raise EcgSignalError(f"{file} needs a 'record' column (record paths without suffix); found {list(table)}")
    ids = [str(Path(v).with_suffix("")) if Path(v).suffix in RECORD_SUFFIXES else v for v in table[key]]
    label_column = next((c for c in table.columns if c.lower() in ("label", "labels")), None)
    if label_column is not None:
        texts = table[label_column]
        return {i: [v.strip() for v in text.split(";") if v.strip()] for i, text in zip(ids, texts, strict=True)}
    classes = [c for c in table.columns if c != key]
    rows = [row for _, row in table.iterrows()]
    return {i: [c for c in classes if row[c] not in ("", "0", "0.0")] for i, row in zip(ids, rows, strict=True)}


def _split_of(record_id: str, labelled: bool, by_folder: bool) -> str | None:
    """`train`/`val`/`test` from the first folder, else a fixed 80/20 train/test split by id when labelled, else
    None (every split: unlabelled files are pretraining/embedding data)."""
    if by_folder:
        return Path(record_id).parts[0]
    if labelled:
        return "train" if zlib.crc32(record_id.encode()) % 5 else "test"
    return None


class RecordInfo:
    """What the pre-check keeps of a record (not its samples): rate, lead names, labels, length, problem."""

    def __init__(self, record: RawRecord, problem: str | None):
        self.rate, self.names, self.labels = record.rate, record.names, record.labels
        self.num_samples, self.problem = record.signal.shape[1], problem


def _resolved(config: EcgConfigBase, file: Path) -> tuple[np.ndarray, float, list[str]]:
    record = resolve(read_record(file), config)
    return record.signal, record.rate, record.names


def files_dataset(
    path: Path, split: str, config: EcgConfigBase, processor: EcgJepaProcessor | None = None
) -> EcgRecords:
    """WFDB records, CSV tables and .npy arrays under `path` (or one such file), one record each, read and checked
    once (`jepa_core.data_checks.read_files`: every unusable file listed together, `--set on_bad_file=skip`); the
    pre-check keeps only each record's rate, lead names, labels and length, and the data set reads a record again
    when it is used, so memory does not grow with the number of files. Without `processor` (the train split of
    `jepa pretrain`) the leads are chosen from the files (`choose_leads`) and the normalisation is fitted on the
    training records, read in passes (`EcgJepaProcessor.fit_records`)."""
    from jepa_core.data_checks import read_files

    root = path if path.is_dir() else path.parent
    files = _record_files(path)
    if not files:
        raise FileNotFoundError(f"no ECG records under {path}: expected WFDB (.hea + .dat), .csv or .npy files")
    pretraining = split == "train" and processor is None
    min_length = config.signal_length if pretraining else config.eval_crop_length

    def read(file: Path) -> RecordInfo:
        record = resolve(read_record(file), config)
        return RecordInfo(record, _problem(record, config, min_length))

    checked = read_files(files, read, lambda info: info.problem, config.on_bad_file)
    ids = [str(f.relative_to(root).with_suffix("")) for f, _ in checked]
    table = _labels_table(root)
    labels = {i: (table or {}).get(i, r.labels) for i, (_, r) in zip(ids, checked, strict=True)}
    labelled = table is not None or any(labels.values())
    if labelled:
        unlabelled = [i for i in ids if table is not None and i not in table]
        if unlabelled:
            raise EcgSignalError(f"{len(unlabelled)} record(s) have no row in {root / LABEL_FILE} (first: "
                                 f"{unlabelled[:3]}); add them, or move them out of the folder")  # fmt: skip
    by_folder = all(Path(i).parts[0] in SPLIT_FOLDERS for i in ids) and len(Path(ids[0]).parts) > 1
    splits = [_split_of(i, labelled, by_folder) for i in ids]
    read_again = functools.partial(_resolved, config)
    if processor is None:
        train = [(f, r) for (f, r), s in zip(checked, splits, strict=True) if s in ("train", None)]
        if not train:
            raise EcgSignalError(f"no training records under {path} (a 'train' folder, or unlabelled records)")
        leads = choose_leads(config, [r.names for _, r in train])
        processor = EcgJepaProcessor(config.sampling_rate, leads, min_samples=config.patch_size)
        processor.fit_records(OnDemand(read_again, [f for f, _ in train]))
    keep = [k for k, s in enumerate(splits) if split == "all" or s in (split, None)]
    if not keep:
        raise EcgSignalError(f"no '{split}' records under {path}")
    lengths = [processor.output_length(checked[k][1].num_samples, checked[k][1].rate) for k in keep]
    records = OnDemand(functools.partial(_processed, processor, read_again), [checked[k][0] for k in keep], lengths)
    classes = sorted({label for values in labels.values() for label in values}) if labelled else []
    targets = None
    if labelled:
        targets = torch.zeros(len(keep), len(classes))
        for row, k in enumerate(keep):
            targets[row, [classes.index(label) for label in labels[ids[k]]]] = 1.0
    return EcgRecords(
        records, config.signal_length if pretraining else config.eval_crop_length, targets, classes,
        random_crop=split == "train", processor=processor, ids=[ids[k] for k in keep], patch_size=config.patch_size,
    )  # fmt: skip


def load_dataset(
    path: str | Path, split: str, config: EcgConfigBase, processor: EcgJepaProcessor | None = None
) -> EcgRecords:
    """A user's data: a PTB-XL folder, an .npz of arrays, WFDB / CSV / .npy records (a folder of them, or one
    file), or shards (Parquet / Arrow / tar, see `shards_dataset`); `split` "train", "test", "all" or "val".
    Without `processor`, the leads and the normalisation come from the training records."""
    shards = find_shards(path, split)
    if shards is not None:
        return shards_dataset(shards, split, config, processor)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir() and (path / "ptbxl_database.csv").is_file():
        return ptbxl_dataset(path, split, config, processor=processor)
    if path.suffix == ".npz":
        return numpy_dataset(path, split, config, processor)
    if path.is_dir() or path.suffix in RECORD_SUFFIXES:
        return files_dataset(path, split, config, processor)
    raise ValueError(f"{path}: expected a PTB-XL folder, WFDB / CSV / .npy records (a folder or one file) or an .npz")


# -- shards (Parquet / Arrow / WebDataset tar): streamed by `jepa pretrain`, read map-style otherwise -----------------
SHARD_COLUMNS = (
    Column("signal", ("signal", "ecg", "npy")),
    Column("sampling_rate", ("sampling_rate", "fs"), required=False),
    Column("lead_names", ("lead_names", "leads"), required=False),
    Column("labels", ("labels", "label"), required=False),
    Column("meta", ("json",), required=False),
)


def shard_record(record: dict, config: EcgConfigBase) -> RawRecord:
    """A shard record → a resolved `RawRecord`: `signal` (leads, samples) (a list of lists, or an array; a single
    lead may be flat), its `sampling_rate` and `lead_names` from their columns (tar shards: a `.json` file with
    those keys), else `input_sampling_rate` / `input_lead_names`; `labels` a class name, names separated by `;`, or
    a list of names. Raises `EcgSignalError` (a ValueError) for a record that cannot be used."""
    meta = record.get("meta") or {}
    signal = np.asarray(record["signal"], dtype=np.float64)
    if signal.ndim == 1:
        signal = signal[None]
    if signal.ndim != 2 or signal.size == 0:
        raise EcgSignalError(f"its signal has shape {signal.shape}; a record is (leads, samples)")
    if signal.shape[0] > 12 and signal.shape[1] <= 12:
        signal = signal.T  # (samples, leads)
    rate = record.get("sampling_rate", meta.get("sampling_rate"))
    names = record.get("lead_names", meta.get("lead_names"))
    labels = record.get("labels", meta.get("labels"))
    labels = [v.strip() for v in labels.split(";") if v.strip()] if isinstance(labels, str) else list(labels or [])
    raw = RawRecord(signal, None if rate is None else float(rate), None if names is None else list(names), labels)
    return resolve(raw, config)


def _checked_record(record: dict, config: EcgConfigBase, min_length: int) -> RawRecord:
    raw = shard_record(record, config)
    problem = _problem(raw, config, min_length)
    if problem:
        raise EcgSignalError(problem)
    return raw


def stream_format(config: EcgConfigBase) -> StreamFormat:
    """`jepa pretrain ecg-jepa --data SHARDS`: each record (see `shard_record`) → ceil(samples / signal_length)
    random `signal_length` crops of the processed record, as `EcgRecords` gives for pretraining. The leads and the
    normalisation are those of the first `FIT_RECORDS` (256) usable records in file order (`choose_leads`,
    `EcgJepaProcessor.fit_records`); a record without one of those leads is a bad record."""

    def processor(records: list[dict]) -> EcgJepaProcessor:
        usable, first_problem = [], None
        for record in records:
            try:
                usable.append(_checked_record(record, config, config.signal_length))
            except ValueError as error:  # left out of the statistics; the stream reports it
                first_problem = first_problem or f"{record.get('__name__')}: {error}"
        if not usable:
            raise EcgSignalError(f"none of the first {len(records)} records can be used ({first_problem})")
        fitted = EcgJepaProcessor(
            config.sampling_rate, choose_leads(config, [r.names for r in usable]), min_samples=config.patch_size
        )
        return fitted.fit_records([(r.signal, r.rate, r.names) for r in usable])

    def samples(record: dict, processor: EcgJepaProcessor) -> list[dict]:
        raw = _checked_record(record, config, config.signal_length)
        processed = processor.process(raw.signal, raw.rate, raw.names)
        crop = config.signal_length
        return [{"input_values": _random_crop(processed, crop)} for _ in range(math.ceil(processed.shape[-1] / crop))]

    return StreamFormat(SHARD_COLUMNS, samples, processor, FIT_RECORDS)


def _random_crop(record: torch.Tensor, length: int) -> torch.Tensor:
    """A `length`-sample crop of a (leads, samples) record at a uniform random start (torch's global RNG)."""
    start = 0
    if record.shape[-1] > length:
        start = int(torch.randint(record.shape[-1] - length + 1, (1,)))
    return record[:, start : start + length]


def _shard_row(table, config: EcgConfigBase, index: int) -> tuple[np.ndarray, float, list[str]]:
    raw = shard_record(table[index], config)
    return raw.signal, raw.rate, raw.names


def shards_dataset(
    shards: Shards, split: str, config: EcgConfigBase, processor: EcgJepaProcessor | None = None
) -> EcgRecords:
    """Shards read map-style (`jepa_core.streams.shard_table`: memory-mapped Arrow), for `evaluate`, `score` and
    `embed`: every record pre-checked (its rate, leads, labels and length kept), read again when used. Splits:
    `train/` and `test/` subfolders (or shard files named after them), else labelled records are split 80/20 by
    id as folders of files are, unlabelled ones are in every split. Ids: `shard/key` (tar) or the row number."""
    from jepa_core.data_checks import read_files

    table = shard_table(shards, SHARD_COLUMNS, config.on_bad_file)
    if "__key__" in table.column_names:
        ids = [f"{Path(url).name}/{key}" for url, key in zip(table["__url__"], table["__key__"], strict=True)]
    else:
        ids = [str(i) for i in range(len(table))]
    pretraining = split == "train" and processor is None
    min_length = config.signal_length if pretraining else config.eval_crop_length

    where = {
        str(Path(f"{shards.source} [{name}]")): index for index, name in enumerate(ids)
    }  # as the pre-check names them

    def read(name: Path) -> tuple[int, RecordInfo]:
        record = shard_record(table[where[str(name)]], config)
        return where[str(name)], RecordInfo(record, _problem(record, config, min_length))

    checked = [found for _, found in read_files(where, read, lambda found: found[1].problem, config.on_bad_file)]
    labelled = any(info.labels for _, info in checked)
    splits = [None if shards.by_split else _split_of(ids[k], labelled, False) for k, _ in checked]
    if processor is None:
        train = [(k, info) for (k, info), s in zip(checked, splits, strict=True) if s in ("train", None)]
        if not train:
            raise EcgSignalError(f"no training records in {shards.source}")
        processor = EcgJepaProcessor(config.sampling_rate, choose_leads(config, [i.names for _, i in train]),
                                     min_samples=config.patch_size)  # fmt: skip
        processor.fit_records(OnDemand(functools.partial(_shard_row, table, config), [k for k, _ in train]))
    keep = [(k, info) for (k, info), s in zip(checked, splits, strict=True) if split == "all" or s in (split, None)]
    if not keep:
        raise EcgSignalError(f"no '{split}' records in {shards.source}")
    lengths = [processor.output_length(info.num_samples, info.rate) for _, info in keep]
    read_again = functools.partial(_shard_row, table, config)
    records = OnDemand(functools.partial(_processed, processor, read_again), [k for k, _ in keep], lengths)
    classes = sorted({label for _, info in checked for label in info.labels}) if labelled else []
    targets = None
    if labelled:
        targets = torch.zeros(len(keep), len(classes))
        for row, (_, info) in enumerate(keep):
            targets[row, [classes.index(label) for label in info.labels]] = 1.0
    return EcgRecords(
        records, config.signal_length if pretraining else config.eval_crop_length, targets, classes,
        random_crop=split == "train", processor=processor, ids=[ids[k] for k, _ in keep], patch_size=config.patch_size,
    )  # fmt: skip
