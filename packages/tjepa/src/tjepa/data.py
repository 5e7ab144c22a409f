"""Tables for T-JEPA: the embedded scikit-learn tables, user files (CSV / Parquet / `datasets` folders), splits.

Splits are "train", "test" and "all" (every row, for `jepa embed`). With no processor given, one is fitted on
the train rows and carried as `dataset.processor`; a given processor (e.g. the one saved in a run) is used as
it is and checked against the model config. Data sets expose `labels` (the target column: class codes, or
floats for regression), `class_names` (classification) and `ids` (the rows' index in the source).
"""

from pathlib import Path

import pandas as pd
import torch
from jepa_core.data_checks import BadFilesError, read_files
from jepa_core.streams import EVERY_COLUMN, Column, Shards, StreamFormat, find_shards, shard_table
from sklearn import datasets as sklearn_datasets
from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset

from .configuration_tjepa import TabularJepaConfig
from .masking_tjepa import MODEL_INPUTS
from .processor_tjepa import TabularJepaProcessor, find_target, read_table

SKLEARN_TABLES = {
    "breast_cancer": sklearn_datasets.load_breast_cancer,
    "wine": sklearn_datasets.load_wine,
    "diabetes": sklearn_datasets.load_diabetes,
}
DEFAULT_TABLE = "breast_cancer"
SPLITS = ("train", "test", "all")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
TABLE_COLUMNS = (Column(EVERY_COLUMN, (), required=False),)  # shards of a table: every column
FIT_ROWS = 10_000  # rows of a streamed table the processor is fitted on
PROCESSOR_FIELDS = ("target_column", "id_columns", "categorical_columns", "task", "missing_values",
                    "unknown_categories", "scaling")  # fmt: skip


class TabularDataset(Dataset):
    """Processed rows: each sample is {"numerical_features", "categorical_features"[, "labels"]}."""

    def __init__(self, tensors: dict[str, torch.Tensor], processor: TabularJepaProcessor, ids: list[str] | None = None):
        self.tensors, self.processor = tensors, processor
        self.ids = ids if ids is not None else [str(i) for i in range(len(self))]
        classes = processor.classes if processor.task == "classification" else None
        self.class_names = [str(c) for c in classes] if classes is not None else None

    @property
    def labels(self) -> torch.Tensor | None:
        """The target column (class codes, or float values for regression), or None when the rows have none."""
        return self.tensors.get("labels")

    def __len__(self) -> int:
        return len(self.tensors["numerical_features"])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {name: values[index] for name, values in self.tensors.items()}


def sklearn_table(name: str) -> pd.DataFrame:
    """One of scikit-learn's shipped tables (no download) with its label in the column "target"."""
    if name not in SKLEARN_TABLES:
        raise ValueError(f"unknown embedded table {name!r}; choose one of {sorted(SKLEARN_TABLES)}")
    return SKLEARN_TABLES[name](as_frame=True).frame


def split_table(frame: pd.DataFrame, test_size: float = 0.2, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deterministic shuffled train / test split; rows keep their index (their ids)."""
    if len(frame) < 2:
        raise ValueError(f"a table of {len(frame)} rows cannot be split into train and test")
    train, test = train_test_split(frame, test_size=test_size, random_state=seed)
    return train, test


def _split_file(folder: Path, split: str) -> Path | None:
    return next((folder / f"{split}{s}" for s in TABLE_SUFFIXES if (folder / f"{split}{s}").is_file()), None)


def _named(frame: pd.DataFrame, split: str) -> pd.DataFrame:
    """Rows of a split file indexed `<split>-<row>`, so that ids stay unique when splits are put together."""
    return frame.set_axis([f"{split}-{i}" for i in range(len(frame))], axis=0)


def _table_problem(frame: pd.DataFrame) -> str | None:
    if frame.shape[1] == 0:
        return "no columns"
    if len(frame) == 0:
        return "no rows (a header only)"
    if frame.isna().all().all():
        return "every cell is empty"
    return None


def read_tables(paths: list[Path]) -> list[pd.DataFrame]:
    """The pre-check of the files: each read once; every unreadable or empty one listed in one error."""
    try:
        return [frame for _, frame in read_files(paths, read_table, _table_problem, policy="error")]
    except BadFilesError as error:
        lines = "\n".join(f"  {b.path}: {b.problem}" for b in error.bad)
        raise ValueError(f"{len(error.bad)} of {len(paths)} table files cannot be used:\n{lines}") from None


def table_splits(path: str | Path, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) tables from `path`.

    A folder with train.{csv,parquet} and test.{csv,parquet}; a `datasets` save_to_disk folder (a
    DatasetDict with "train" and "test", or one Dataset); a folder of Parquet / Arrow shards (`train/` and `test/`
    subfolders, or shards named after them, else one table); or one CSV / Parquet file. One table is split
    80 / 20 with `seed`. Every file is read once and checked (`read_tables`). The table is held in memory.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--data {path} does not exist; pass a .csv / .parquet file or a folder")
    if path.is_dir():
        train_file, test_file = _split_file(path, "train"), _split_file(path, "test")
        if train_file and test_file:
            train, test = read_tables([train_file, test_file])
            return _named(train, "train"), _named(test, "test")
        if (path / "dataset_dict.json").is_file():
            import datasets

            splits = datasets.load_from_disk(str(path))
            if not {"train", "test"} <= set(splits):
                raise ValueError(f"{path} holds the splits {list(splits)}; T-JEPA needs 'train' and 'test'")
            train, test = (read_table(splits[name]) for name in ("train", "test"))
            problems = [f"  {path}/{n}: {p}" for n, f in (("train", train), ("test", test)) if (p := _table_problem(f))]
            if problems:
                raise ValueError("the saved splits cannot be used:\n" + "\n".join(problems))
            return _named(train, "train"), _named(test, "test")
        if not (path / "dataset_info.json").is_file():
            shards = find_shards(path, "train")
            if shards is not None:  # a folder of Parquet / Arrow shards (what `jepa pretrain` streams)
                train = _shard_frame(shards)
                if shards.by_split:
                    return _named(train, "train"), _named(_shard_frame(find_shards(path, "test")), "test")
                return split_table(train, seed=seed)
            raise ValueError(
                f"--data {path} is a folder without train.csv / test.csv (or .parquet), shards, or a datasets "
                "save_to_disk folder; pass one .csv / .parquet file or such a folder"
            )
        (table,) = [read_table(path)]
        if problem := _table_problem(table):
            raise ValueError(f"{path}: {problem}")
        return split_table(table, seed=seed)
    (table,) = read_tables([path])
    return split_table(table, seed=seed)


def _shard_frame(shards: Shards | None) -> pd.DataFrame:
    """Every row of the shards, as one table (a table is read into memory whole; `jepa pretrain` streams them)."""
    if shards is None:
        raise ValueError("the shard folder has train shards but no test shards (a test/ folder or test-*.parquet)")
    frame = shard_table(shards, TABLE_COLUMNS).to_pandas()
    if problem := _table_problem(frame):
        raise ValueError(f"{shards.source}: {problem}")
    return frame


def stream_format(config: TabularJepaConfig) -> StreamFormat:
    """`jepa pretrain tjepa --data SHARDS` (Parquet / Arrow shards of one table): the rows stream, one sample each.
    The processor (schema, quantiles, categories, target) is fitted on the first `FIT_ROWS` rows in file order,
    checked as a table's training rows are (`check_tables`); a category first seen later goes to the unknown
    bucket (a bad row under `--set unknown_categories=error`)."""
    options = processor_options(config)

    def processor(records: list[dict]) -> TabularJepaProcessor:
        frame = pd.DataFrame([_row(record) for record in records])
        check_tables(frame, frame, options)
        return TabularJepaProcessor(**options, verbose=False).fit(frame)

    def samples(record: dict, processor: TabularJepaProcessor) -> list[dict]:
        tensors = processor.transform(pd.DataFrame([_row(record)]))
        return [{name: tensors[name][0] for name in MODEL_INPUTS}]

    return StreamFormat(TABLE_COLUMNS, samples, processor, FIT_ROWS)


def _row(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "__name__"}


def check_tables(train: pd.DataFrame, test: pd.DataFrame, options: dict) -> None:
    """The pre-check of the table's content, every problem in one error: a named target or id / categorical
    column that is not there, a target that is entirely or partly empty or has a single value in the training
    rows, and feature columns of the training rows that the test rows lack. Entirely empty or constant columns
    are dropped by the processor with a warning."""
    problems = []
    named = options.get("target_column")
    declared = list(options.get("id_columns") or []) + list(options.get("categorical_columns") or [])
    absent = [c for c in ([named] if named is not None else []) + declared if c not in train.columns]
    if absent:
        problems.append(f"columns {absent} are not in the table (its columns: {list(train.columns)})")
    target = find_target(list(train.columns), named)
    if target in train.columns:
        labels = train[target]
        holes = int(labels.isna().sum())
        if holes == len(labels):
            problems.append(
                f"the target column {target!r} is entirely empty; name another with --set target_column=NAME"
            )
        elif holes:
            problems.append(
                f"the target column {target!r} is empty in {holes} of {len(labels)} training rows; drop those rows "
                "or fill them"
            )
        elif labels.nunique() < 2:
            problems.append(
                f"the target column {target!r} has a single value {labels.iloc[0]!r} in the {len(labels)} training "
                "rows; a probe needs two classes (--set target_column=NAME for another column)"
            )
    lacking = [c for c in train.columns if c not in test.columns and c != target]
    if lacking:
        problems.append(f"the test rows lack the columns {lacking} of the training rows")
    if problems:
        raise ValueError("the table cannot be used:\n" + "\n".join(f"  - {p}" for p in problems))


def processor_options(config: TabularJepaConfig | None) -> dict:
    """The processor settings that the config's table fields (`--set target_column=…` …) give."""
    if config is None:
        return {}
    return {name: getattr(config, name) for name in PROCESSOR_FIELDS if hasattr(config, name)}


def processed_split(
    train: pd.DataFrame,
    test: pd.DataFrame,
    split: str,
    config: TabularJepaConfig | None = None,
    processor: TabularJepaProcessor | None = None,
) -> TabularDataset:
    """`split` of (train, test) ("all": both) processed by `processor`, or by one fitted on `train` (no config
    check then: `adapt_config` sizes the model for the table). A given processor is checked against `config`
    (a `ConfigFieldError` names the field to set)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if processor is None:
        options = processor_options(config)
        check_tables(train, test, options)
        processor = TabularJepaProcessor(**options, verbose=False).fit(train)
    else:
        check_tables(train, test, {"target_column": processor.target_column, "id_columns": processor.id_columns})
        if config is not None:
            processor.check_config(config)
    frame = {"train": train, "test": test}.get(split)
    if frame is None:
        frame = pd.concat([train, test]).sort_index() if _sortable(train, test) else pd.concat([train, test])
    ids = [str(i) for i in frame.index]
    id_column = next((c for c in processor.id_columns or [] if c in frame.columns), None)
    if id_column is not None:
        ids = [str(i) for i in frame[id_column]]
    return TabularDataset(processor.transform(frame), processor, ids)


def _sortable(train: pd.DataFrame, test: pd.DataFrame) -> bool:
    return pd.api.types.is_integer_dtype(train.index) and pd.api.types.is_integer_dtype(test.index)


def default_dataset(
    split: str,
    config: TabularJepaConfig | None = None,
    processor: TabularJepaProcessor | None = None,
    seed: int = 0,
) -> TabularDataset:
    """The embedded breast_cancer table (569 rows, 30 numerical features, binary target), split 80 / 20."""
    return processed_split(*split_table(sklearn_table(DEFAULT_TABLE), seed=seed), split, config, processor)


def load_dataset(
    path: str, split: str, config: TabularJepaConfig | None = None, processor: TabularJepaProcessor | None = None
) -> TabularDataset:
    """A user's table (see `table_splits`), processed with `processor` or one fitted on its train split."""
    return processed_split(*table_splits(path), split, config, processor)
