"""Tables for T-JEPA: the embedded scikit-learn tables, user files (CSV / Parquet / `datasets` folders), splits."""

from pathlib import Path

import pandas as pd
import torch
from sklearn import datasets as sklearn_datasets
from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset

from .configuration_tjepa import TabularJepaConfig
from .processor_tjepa import TabularJepaProcessor, read_table

SKLEARN_TABLES = {
    "breast_cancer": sklearn_datasets.load_breast_cancer,
    "wine": sklearn_datasets.load_wine,
    "diabetes": sklearn_datasets.load_diabetes,
}
DEFAULT_TABLE = "breast_cancer"
SPLITS = ("train", "test")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


class TabularDataset(Dataset):
    """Processed rows: each sample is {"numerical_features", "categorical_features"[, "labels"]}."""

    def __init__(self, tensors: dict[str, torch.Tensor], processor: TabularJepaProcessor):
        self.tensors, self.processor = tensors, processor

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
    """Deterministic shuffled train / test split."""
    if len(frame) < 2:
        raise ValueError(f"a table of {len(frame)} rows cannot be split into train and test")
    train, test = train_test_split(frame, test_size=test_size, random_state=seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _split_file(folder: Path, split: str) -> Path | None:
    return next((folder / f"{split}{s}" for s in TABLE_SUFFIXES if (folder / f"{split}{s}").is_file()), None)


def table_splits(path: str | Path, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) tables from `path`.

    A folder with train.{csv,parquet} and test.{csv,parquet}; a `datasets` save_to_disk folder (a
    DatasetDict with "train" and "test", or one Dataset); or one CSV / Parquet file. One table is split
    80 / 20 with `seed`.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--data {path} does not exist; pass a .csv / .parquet file or a folder")
    if path.is_dir():
        train_file, test_file = _split_file(path, "train"), _split_file(path, "test")
        if train_file and test_file:
            return read_table(train_file), read_table(test_file)
        if (path / "dataset_dict.json").is_file():
            import datasets

            splits = datasets.load_from_disk(str(path))
            if not set(SPLITS) <= set(splits):
                raise ValueError(f"{path} holds the splits {list(splits)}; T-JEPA needs 'train' and 'test'")
            return read_table(splits["train"]), read_table(splits["test"])
    return split_table(read_table(path), seed=seed)


def processed_split(
    train: pd.DataFrame,
    test: pd.DataFrame,
    split: str,
    config: TabularJepaConfig | None = None,
    processor: TabularJepaProcessor | None = None,
) -> TabularDataset:
    """`split` of (train, test) processed by `processor` (fitted on `train` if not given), checked against `config`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if processor is None:
        processor = TabularJepaProcessor(verbose=False).fit(train)
    if config is not None:
        processor.check_config(config)
    return TabularDataset(processor.transform(train if split == "train" else test), processor)


def default_dataset(split: str, config: TabularJepaConfig | None = None, seed: int = 0) -> TabularDataset:
    """The embedded breast_cancer table (569 rows, 30 numerical features, binary target), split 80 / 20."""
    return processed_split(*split_table(sklearn_table(DEFAULT_TABLE), seed=seed), split, config)


def load_dataset(path: str, split: str, config: TabularJepaConfig | None = None) -> TabularDataset:
    """A user's table (see `table_splits`), processed with a processor fitted on its train split."""
    return processed_split(*table_splits(path), split, config)
