import pytest
from datasets import Dataset, DatasetDict
from jepa_core.saved_datasets import is_saved_dataset, load_saved_split


def test_saved_dataset_dict_gives_the_split_and_names_missing_ones(tmp_path):
    splits = DatasetDict({"train": Dataset.from_dict({"x": [1, 2, 3]}), "test": Dataset.from_dict({"x": [4]})})
    splits.save_to_disk(tmp_path / "dict")
    assert is_saved_dataset(tmp_path / "dict")
    assert load_saved_split(tmp_path / "dict", "test")["x"] == [4]
    assert load_saved_split(tmp_path / "dict", "all")["x"] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match=r"splits \['train', 'test'\], not 'validation'"):
        load_saved_split(tmp_path / "dict", "validation")


def test_saved_single_dataset_is_returned_whole_and_plain_folders_are_not_saved_datasets(tmp_path):
    Dataset.from_dict({"x": [1, 2, 3]}).save_to_disk(tmp_path / "single")
    assert is_saved_dataset(tmp_path / "single")
    assert load_saved_split(tmp_path / "single", "train")["x"] == [1, 2, 3]
    (tmp_path / "images").mkdir()
    assert not is_saved_dataset(tmp_path / "images")
