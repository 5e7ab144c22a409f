"""Data sources: the embedded digits, image folders, saved `datasets` data sets, and bad files."""

import numpy as np
import pytest
import torch
from ijepa import ImageJepaConfig
from ijepa.data import default_dataset, load_dataset
from PIL import Image

CONFIG = ImageJepaConfig.from_preset("tiny")


def test_default_dataset_is_real_labelled_digits():
    train, test = default_dataset("train", CONFIG), default_dataset("test", CONFIG)
    assert (len(train), len(test)) == (4000, 1000)
    assert torch.bincount(test.labels).tolist() == [100] * 10 and test.labels.dtype == torch.int64
    assert test.class_names == [str(d) for d in range(10)] and test.ids[0].startswith("mnist-")
    everything = default_dataset("all", CONFIG)
    assert len(everything) == 5000 and not everything.train and len(set(everything.ids)) == 5000
    assert set(everything.ids) == set(train.ids) | set(test.ids)
    sample = test[0]
    assert sample["pixel_values"].shape == (3, 32, 32) and sample["labels"].dtype == torch.int64
    pixels = sample["pixel_values"]
    assert torch.allclose(pixels[0], pixels[1] * 0.224 / 0.229 + (0.456 - 0.485) / 0.229, atol=1e-5)  # gray → RGB
    background = (torch.tensor(0.0) - 0.485) / 0.229
    assert torch.isclose(pixels[0, 0, 0], background, atol=1e-5) and pixels[0].max() > 1.5  # dark ground, bright ink
    assert train.train and not test.train
    with pytest.raises(ValueError, match="unknown split"):
        default_dataset("validation", CONFIG)


def test_a_given_processor_is_used():
    from ijepa import ImageJepaImageProcessor

    processor = ImageJepaImageProcessor(image_size=16, patch_size=4, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    test = default_dataset("test", CONFIG, processor)
    assert test.processor is processor and test[0]["pixel_values"].shape == (3, 16, 16)
    assert default_dataset("train", CONFIG).processor.to_dict() == ImageJepaImageProcessor.from_config(CONFIG).to_dict()


def _write_folder(root, classes=("cat", "dog"), per_class=5):
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (20 + i, 24), (label * 200, i * 40, 0)).save(root / name / f"{i}.png")
    (root / "README.txt").write_text("not an image, ignored")


def test_image_folder_with_class_subfolders(tmp_path):
    _write_folder(tmp_path)
    train, test = load_dataset(str(tmp_path), "train", CONFIG), load_dataset(str(tmp_path), "test", CONFIG)
    assert (len(train), len(test)) == (8, 2)
    assert sorted(train.labels.tolist() + test.labels.tolist()) == [0] * 5 + [1] * 5
    assert train.class_names == test.class_names == ["cat", "dog"] and test.ids[0].startswith("cat/")
    everything = load_dataset(str(tmp_path), "all", CONFIG)
    assert len(everything) == 10 and not everything.train
    sample = test[1]
    assert sample["pixel_values"].shape == (3, 32, 32) and int(sample["labels"]) == 1
    red = (sample["pixel_values"][0] * 0.229 + 0.485).mean()
    assert torch.isclose(red, torch.tensor(200 / 255), atol=1e-3)


def test_image_folder_with_split_folders_and_unlabelled(tmp_path):
    _write_folder(tmp_path / "train")
    _write_folder(tmp_path / "test", classes=("dog",), per_class=2)
    test = load_dataset(str(tmp_path), "test", CONFIG)
    assert len(test) == 2 and test.labels.tolist() == [1, 1]  # one class table for both split folders
    assert test.class_names == load_dataset(str(tmp_path), "train", CONFIG).class_names == ["cat", "dog"]
    assert len(load_dataset(str(tmp_path), "all", CONFIG)) == 12
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(5):
        Image.new("L", (32, 32), i).save(flat / f"{i}.jpg")
    unlabelled = load_dataset(str(flat), "train", CONFIG)
    assert len(unlabelled) == 4 and "labels" not in unlabelled[0] and unlabelled.labels is None


def test_saved_datasets_folder(tmp_path):
    from datasets import ClassLabel, Dataset, DatasetDict, Features
    from datasets import Image as ImageFeature

    images = [Image.fromarray(np.full((28, 28), 25 * i, dtype=np.uint8)) for i in range(10)]
    features = Features({"image": ImageFeature(), "label": ClassLabel(num_classes=2)})
    data = Dataset.from_dict({"image": images, "label": [i % 2 for i in range(10)]}, features=features)
    data.save_to_disk(str(tmp_path / "single"))
    train = load_dataset(str(tmp_path / "single"), "train", CONFIG)
    assert len(train) == 8 and train.labels.tolist() == [0, 1, 0, 1, 1, 0, 1, 0]
    assert train.class_names == ["0", "1"]
    DatasetDict({"train": data, "test": data.select(range(3))}).save_to_disk(str(tmp_path / "splits"))
    test = load_dataset(str(tmp_path / "splits"), "test", CONFIG)
    assert len(test) == 3 and test[2]["pixel_values"].shape == (3, 32, 32)
    assert len(load_dataset(str(tmp_path / "splits"), "all", CONFIG)) == 13
    gray = test[2]["pixel_values"][0] * 0.229 + 0.485
    assert torch.allclose(gray, torch.full((32, 32), 50 / 255), atol=1e-4)


def test_bad_data_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(str(tmp_path / "missing"), "train", CONFIG)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no image files"):
        load_dataset(str(empty), "train", CONFIG)
    broken = tmp_path / "broken" / "class_a"
    broken.mkdir(parents=True)
    for i in range(5):
        (broken / f"{i}.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match="5 of 5 input files cannot be used") as error:  # listed before training
        load_dataset(str(tmp_path / "broken"), "train", CONFIG)
    assert all(f"{i}.jpg: unreadable" in str(error.value) for i in range(5))


def test_default_dataset_prefixes_mix_the_classes():
    from ijepa import ImageJepaConfig
    from ijepa.data import default_dataset

    test = default_dataset("test", ImageJepaConfig.from_preset("tiny"))
    assert len({int(test[i]["labels"]) for i in range(30)}) >= 5
