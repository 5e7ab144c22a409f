"""Folders written by `datasets`' `save_to_disk`, as every domain's `--data` accepts them."""

from pathlib import Path

SAVED_DATASET_FILES = ("dataset_dict.json", "state.json", "dataset_info.json")


def is_saved_dataset(path: str | Path) -> bool:
    """Whether `path` is a folder written by `save_to_disk` (a `Dataset` or a `DatasetDict`)."""
    return any((Path(path) / name).is_file() for name in SAVED_DATASET_FILES)


def load_saved_split(path: str | Path, split: str):
    """The `split` of a saved `DatasetDict` (a clear error naming the splits it has; "all" joins every split in
    order), or a saved `Dataset` whole."""
    from datasets import DatasetDict, concatenate_datasets, load_from_disk

    data = load_from_disk(str(path))
    if isinstance(data, DatasetDict):
        if split == "all" and "all" not in data:
            return concatenate_datasets([data[name] for name in data])
        if split not in data:
            raise ValueError(f"{path} has the splits {list(data)}, not {split!r}; save a {split!r} split")
        return data[split]
    return data
