"""Sharded local files streamed into pretraining, so that data larger than memory trains.

`jepa pretrain DOMAIN --data SHARDS`, where SHARDS is a folder of shard files (or its `train/` subfolder), a
glob (`'data/train-*.parquet'`) or one shard file, of one format: Parquet (`*.parquet`), Arrow (`*.arrow`,
as `datasets` writes them) or WebDataset-style tar (`*.tar`: the files of one record share a key, `000.jpg` +
`000.cls`; the extension is the column name). The shards are opened with `datasets.load_dataset(<parquet|arrow|
webdataset>, data_files=…, streaming=True)`: one shard per file, so the trainer splits files across processes and
loader workers, and a seeded shuffle buffer mixes them (see `jepa_core.training.feeding`).

A domain takes part through `Domain.stream_format(config) -> StreamFormat`: the columns it reads (by role, each
with the names it accepts), how a record becomes training samples, and its processor, fitted on the first
`fit_records` records of the stream in file order (`FIT_RECORDS` by default). Before training every shard's
footer (Parquet), message headers (Arrow) or member headers (tar) are read, not its data: unreadable,
truncated or empty shards are listed together (or left out with `--set on_bad_file=skip`), and a missing column
is named with the columns the shard has. A record that fails to decode mid-run stops the run naming it (or is
left out with a warning under `on_bad_file=skip`). `shard_table` reads the same shards map-style (Arrow files
in the `datasets` cache, memory-mapped) for `jepa evaluate`, `score` and `embed`.
"""

from __future__ import annotations

import glob
import itertools
import logging
import re
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .data_checks import read_files
from .saved_datasets import is_saved_dataset

if TYPE_CHECKING:
    import datasets

    from .domain import Domain

SHARD_BUILDERS = {".parquet": "parquet", ".arrow": "arrow", ".tar": "webdataset"}
FIT_RECORDS = 256  # records a processor is fitted on, unless the domain's StreamFormat says otherwise
RECORD_NAME_KEYS = ("__key__", "__url__")  # where a tar record comes from (webdataset's columns)
EVERY_COLUMN = "*"  # `Column(EVERY_COLUMN, (), required=False)`: every column of the shards, each under its name
_SPLIT_FILE = re.compile(r"^(train|test)(?:[-_.].*)?$")  # shard files named after their split
_TAR_MEMBER = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")  # webdataset: key = path up to the first dot of the name
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Column:
    """A column a domain reads, under its `role` (the key in the records it gets); the first of `names` that a
    shard has is used (tar shards: file extensions, e.g. ("jpg", "png")). The role `EVERY_COLUMN` reads every
    column of a table, each under its own name."""

    role: str
    names: tuple[str, ...]
    required: bool = True


@dataclass(frozen=True)
class StreamFormat:
    """How a domain reads the records of shards.

    - `columns`: the columns it reads; records reach `samples` and `processor` keyed by role (plus `__name__`,
      where the record comes from, for messages).
    - `samples(record, processor)`: the training samples of one record (a list: none, one, or several windows
      of a long recording); raise ValueError for a bad record.
    - `processor(records)`: the processor, fitted on the first `fit_records` records (an empty list when
      `fit_records` is 0: nothing to fit).
    """

    columns: tuple[Column, ...]
    samples: Callable[[dict, Any], list[dict]]
    processor: Callable[[list[dict]], Any]
    fit_records: int = 0


@dataclass(frozen=True)
class Shards:
    """Shard files of one format; `by_split`: they were picked by a `train/` / `test/` subfolder."""

    builder: str
    files: tuple[Path, ...]
    source: str
    by_split: bool = False


def _shard_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SHARD_BUILDERS)


def _one_format(files: list[Path], source: str) -> str:
    suffixes = sorted({f.suffix.lower() for f in files})
    if len(suffixes) > 1:
        counts = ", ".join(f"{sum(f.suffix.lower() == s for f in files)} {s}" for s in suffixes)
        raise ValueError(
            f"--data {source} mixes shard formats ({counts}); give shards of one format (a folder or a glob "
            f"such as '{source.rstrip('/')}/*{suffixes[0]}')"
        )
    return SHARD_BUILDERS[suffixes[0]]


def find_shards(path: str | Path, split: str = "train") -> Shards | None:
    """The shard files `path` names: one shard file, a glob, or a folder of shards (its `<split>/` subfolder when
    that holds shards, or the shards named after the split when every shard is: `train.parquet`, `test-00001-of-
    00004.tar`; "all": train and test). None when `path` names no shards (a folder of images, a `save_to_disk`
    folder …: the domain's own loader reads it)."""
    source, path = str(path), Path(path)
    if not path.exists() and glob.has_magic(source):
        files = sorted(Path(p) for p in glob.glob(source) if Path(p).is_file())
        if not files:
            raise FileNotFoundError(f"--data {source} matches no file")
        unknown = [f.name for f in files if f.suffix.lower() not in SHARD_BUILDERS]
        if unknown:
            raise ValueError(
                f"--data {source} matches {unknown[0]}, not a shard file; shards are {', '.join(SHARD_BUILDERS)}"
            )
        return Shards(_one_format(files, source), tuple(files), source)
    if path.is_file():
        if path.suffix.lower() not in SHARD_BUILDERS:
            return None
        return Shards(SHARD_BUILDERS[path.suffix.lower()], (path,), source)
    if not path.is_dir() or is_saved_dataset(path):
        return None
    names = ("train", "test") if split == "all" else (split,)
    by_split = [path / name for name in names if (path / name).is_dir() and _shard_files(path / name)]
    files = [f for folder in by_split for f in _shard_files(folder)] if by_split else _shard_files(path)
    if not files:
        return None
    named = {f: match.group(1) for f in files if (match := _SPLIT_FILE.match(f.stem))}
    if not by_split and len(named) == len(files) and any(s in names for s in named.values()):
        files, by_split = [f for f in files if named[f] in names], [path]
    others = [p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() not in SHARD_BUILDERS]
    if others and not by_split:
        logger.warning("--data %s: %d files that are not shards are left out (%s)", source, len(others), others[0])
    return Shards(_one_format(files, source), tuple(files), source, bool(by_split))


def _tar_records(path: Path) -> dict[str, set[str]]:
    """Record key → its extensions, from the member headers (a truncated archive fails here); hidden members
    (`.*`, `__*`) are left out, as `datasets` leaves them out."""
    records: dict[str, set[str]] = {}
    with tarfile.open(path) as archive:
        for member in archive:
            hidden = Path(member.name).name.startswith((".", "__"))
            match = _TAR_MEMBER.match(member.name) if member.isfile() and not hidden else None
            if match:
                records.setdefault(match.group(1), set()).add(match.group(2).lower())
    return records


def _inspect(builder: str, path: Path, columns: Sequence[Column]) -> tuple[int, list[str], list[str]]:
    """(records, columns, the first tar records without a required file) of one shard, from its metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if builder == "webdataset":
        records = _tar_records(path)
        found = sorted(set().union(*records.values()))
        chosen, _ = _roles(columns, found)
        needed = {chosen[c.role] for c in columns if c.required and c.role in chosen}
        lacking = [key for key, extensions in records.items() if not needed <= extensions]
        return len(records), found, lacking[:3]
    if builder == "parquet":
        shard = pq.ParquetFile(path)
        return shard.metadata.num_rows, shard.schema_arrow.names, []
    with pa.memory_map(str(path)) as source:  # zero-copy: reads the message headers, not the data
        if source.read(6) == b"ARROW1":  # the IPC file format; `datasets` writes the stream format
            reader = pa.ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        else:
            source.seek(0)
            batches = reader = pa.ipc.open_stream(source)
        return sum(batch.num_rows for batch in batches), reader.schema.names, []


def _roles(columns: Sequence[Column], found: list[str]) -> tuple[dict[str, str], list[Column]]:
    """Role → the shard's column for it; the required columns it lacks."""
    chosen, missing = {}, []
    for column in columns:
        if column.role == EVERY_COLUMN:  # a table: every column, under its own name
            chosen.update({n: n for n in found if n not in RECORD_NAME_KEYS and n not in chosen.values()})
            continue
        name = next((n for n in column.names if n in found), None)
        if name is not None:
            chosen[column.role] = name
        elif column.required:
            missing.append(column)
    return chosen, missing


def check_shards(shards: Shards, columns: Sequence[Column], policy: str = "error") -> tuple[Shards, dict[str, str]]:
    """The pre-check: every shard's metadata read once. Unreadable, truncated or empty shards are listed together
    (`BadFilesError`), or left out under `policy="skip"`; a shard without a required column, or shards whose
    columns differ, is an error naming the shard, its columns and the fix. Returns (the usable shards, role →
    column name)."""

    def problem(info) -> str | None:
        count, found, lacking = info
        if count == 0:
            return "holds no records"
        chosen, missing = _roles(columns, found)
        if missing or not lacking:
            return None  # a missing column is reported below, with the columns the shard has
        needed = sorted(chosen[c.role] for c in columns if c.required)
        return f"the records {', '.join(lacking)} have no .{'/.'.join(needed)} file"

    good = read_files(shards.files, lambda path: _inspect(shards.builder, path, columns), problem, policy)
    layouts, first_roles = {}, None
    for path, (_, found, _) in good:
        chosen, missing = _roles(columns, found)
        if missing:
            wanted = "; ".join(f"{c.role}: one of {', '.join(c.names)}" for c in missing)
            kind = "file extensions" if shards.builder == "webdataset" else "columns"
            raise ValueError(
                f"shard {path} has the {kind} {found}, but a column is needed for {wanted}; rename the "
                f"{'files' if shards.builder == 'webdataset' else 'column'} when writing the shards"
            )
        layouts.setdefault(tuple(sorted(chosen.items())), path)
        first_roles = chosen if first_roles is None else first_roles  # in the shard's column order
    if len(layouts) > 1:
        (first, a), (second, b) = list(layouts.items())[:2]
        raise ValueError(
            f"the shards differ in layout: {a} reads {dict(first)}, {b} reads {dict(second)}; give shards of one "
            "layout (one --data folder or glob per layout)"
        )
    files = tuple(path for path, _ in good)
    total = sum(count for _, (count, _, _) in good)
    logger.info("%d records in %d %s shards from %s", total, len(files), shards.builder, shards.source)
    return replace(shards, files=files), first_roles


def _undecoded(data, roles: dict[str, str]):
    """`data` with its columns renamed to roles, image and audio columns left as `{bytes, path}` (the domain
    decodes them, with errors naming the record; `datasets` would need torchcodec for audio). A stream gets plain
    structs (`datasets` re-encodes typed values of a stream); a map-style set undecoded features (no copy)."""
    from datasets import Audio, Dataset, Image, Value

    keep = list(roles.values()) + [k for k in RECORD_NAME_KEYS if k in data.column_names]
    data = data.select_columns(keep)
    struct = {"bytes": Value("binary"), "path": Value("string")}
    for name, feature in data.features.items():
        if isinstance(feature, Image | Audio):
            data = data.cast_column(name, type(feature)(decode=False) if isinstance(data, Dataset) else struct)
    return data.rename_columns({name: role for role, name in roles.items() if name != role})


def open_records(shards: Shards, roles: dict[str, str]) -> datasets.IterableDataset:
    """The shards' records as a `datasets` stream (one shard per file), keyed by role."""
    from datasets import load_dataset

    files = [str(f) for f in shards.files]
    return _undecoded(load_dataset(shards.builder, data_files=files, split="train", streaming=True), roles)


def shard_table(shards: Shards, columns: Sequence[Column], policy: str = "error") -> datasets.Dataset:
    """The shards map-style, for evaluation and embedding: a `datasets.Dataset` keyed by role, read into Arrow
    files in the `datasets` cache (one copy on disk) and memory-mapped, so memory does not grow with its size."""
    from datasets import load_dataset

    shards, roles = check_shards(shards, columns, policy)
    files = [str(f) for f in shards.files]
    return _undecoded(load_dataset(shards.builder, data_files=files, split="train"), roles)


def record_name(record: dict, source: str) -> str:
    """Where a record comes from: `shard.tar/key` for tar shards, else the path its value carries, else the
    shards' source."""
    if record.get("__key__") is not None:
        return f"{Path(record.get('__url__') or '').name}/{record['__key__']}"
    paths = [v.get("path") for v in record.values() if isinstance(v, dict) and v.get("path")]
    return f"{paths[0]} (a record of {source})" if paths else f"a record of {source}"


def _named(record: dict, source: str) -> dict:
    """The record keyed by role, with `__name__` (where it comes from) in place of webdataset's columns."""
    name = record_name(record, source)
    return {k: v for k, v in record.items() if k not in RECORD_NAME_KEYS} | {"__name__": name}


def _reader(stream_format: StreamFormat, processor, source: str, policy: str):
    """The `datasets.map` function (batched, one record per call) that turns records into samples."""

    def samples_of(batch: dict) -> dict:
        record = _named({key: values[0] for key, values in batch.items()}, source)
        name = record["__name__"]
        try:
            samples = stream_format.samples(record, processor)
        except ValueError as error:
            if policy != "skip":
                raise ValueError(
                    f"{name}: {error}. Fix or remove it, or leave bad records out with --set on_bad_file=skip"
                ) from error
            logger.warning("%s is left out: %s", name, error)
            samples = []
        keys = samples[0].keys() if samples else ()
        return {key: [sample[key] for sample in samples] for key in keys}

    return samples_of


def stream_dataset(domain: Domain, config, path: str | Path, processor=None) -> datasets.IterableDataset:
    """`--data SHARDS` for pretraining: a `datasets.IterableDataset` of the domain's training samples, carrying
    its `processor` (the given one, else fitted on the first records) as `.processor`."""
    shards = find_shards(path, "train")
    if shards is None:
        raise ValueError(f"--data {path} holds no shard files ({', '.join(SHARD_BUILDERS)})")
    stream_format = domain.stream_format(config)
    policy = getattr(config, "on_bad_file", "error")
    shards, roles = check_shards(shards, stream_format.columns, policy)
    records = open_records(shards, roles)
    if processor is None:
        first = []
        if stream_format.fit_records:
            first = [_named(record, shards.source) for record in itertools.islice(records, stream_format.fit_records)]
        processor = stream_format.processor(first)
    reader = _reader(stream_format, processor, shards.source, policy)
    stream = records.map(reader, batched=True, batch_size=1, remove_columns=list(records.column_names))
    stream.processor = processor
    return stream
