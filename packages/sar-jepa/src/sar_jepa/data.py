"""SAR data: the embedded MSTAR-like target chips, folders of GeoTIFFs per class, and few-shot evaluation.

No real SAR ships in any package, so the embedded set simulates it (`simulation`): one of four vehicle targets
(truck, tank, APC, dozer: the label) centred on clutter cut from real scikit-image textures, with its radar
shadow, × Gamma(L, 1/L) speckle (L looks) as intensity. The chips of each class are written as one
georeferenced float32 GeoTIFF mosaic and read back by `SarJepaProcessor.chip`, the path real scenes take.
The top 3/4 of each mosaic is "train", the rest "test"; their clutter comes from disjoint texture rows.
"""

import functools
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from jepa_core.evaluation import extract_embeddings, linear_probe
from torch.utils.data import Dataset

from .configuration_sar_jepa import SarJepaConfig
from .finetuning import accuracy, finetune_classifier
from .processor_sar_jepa import SarJepaProcessor, write_geotiff
from .simulation import TARGETS, TEXTURES, add_target, clutter_reflectivity, speckle

SPLITS = ("train", "test")
CLASSES = tuple(TARGETS)
LOOKS = 4
MOSAIC_SIDE = 16  # chips per side of each class mosaic: 256 chips per class
TRAIN_SHARE = 0.75
TEST_EVERY = 5
FEW_SHOTS = (10, 20, 40)
GEOTIFF_SUFFIXES = (".tif", ".tiff")


class SarChipDataset(Dataset):
    """Prepared chips `{"pixel_values": (C, S, S)[, "labels"]}`; `augment` applies the paper's train transform."""

    def __init__(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None,
        config: SarJepaConfig,
        augment: bool = False,
        class_names: tuple[str, ...] = (),
    ):
        if labels is not None and len(labels) != len(pixel_values):
            raise ValueError(f"{len(pixel_values)} chips but {len(labels)} labels")
        self.pixel_values, self.labels, self.config = pixel_values, labels, config
        self.augment, self.class_names = augment, class_names

    def __len__(self) -> int:
        return len(self.pixel_values)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        x = self.pixel_values[index]
        sample = {"pixel_values": augment_chip(x, self.config) if self.augment else x}
        if self.labels is not None:
            sample["labels"] = self.labels[index]
        return sample


def augment_chip(x: torch.Tensor, config: SarJepaConfig) -> torch.Tensor:
    """RandomResizedCrop(scale `crop_scale`, ratio 3/4–4/3), horizontal flip, contrast jitter; stays in [0, 1]."""
    size = x.shape[-1]
    area = size * size * float(torch.empty(1).uniform_(*config.crop_scale))
    ratio = math.exp(float(torch.empty(1).uniform_(math.log(3 / 4), math.log(4 / 3))))
    height = min(size, max(1, round(math.sqrt(area / ratio))))
    width = min(size, max(1, round(math.sqrt(area * ratio))))
    top = int(torch.randint(0, size - height + 1, (1,)))
    left = int(torch.randint(0, size - width + 1, (1,)))
    crop = x[None, :, top : top + height, left : left + width]
    x = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False)[0]
    if config.horizontal_flip and torch.rand(1) < 0.5:
        x = x.flip(-1)
    if config.contrast_jitter:
        factor = float(torch.empty(1).uniform_(max(0.0, 1 - config.contrast_jitter), 1 + config.contrast_jitter))
        x = x.mean() + factor * (x - x.mean())
    return x.clamp(0.0, 1.0)


def _texture(name: str) -> np.ndarray:
    import skimage.data
    from skimage.exposure import equalize_hist

    return equalize_hist(getattr(skimage.data, name)())


def _clutter_crop(texture: np.ndarray, split: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random `size`² crop of the split's rows of `texture` (top 3/4: train), resized when they are too few."""
    boundary = int(texture.shape[0] * TRAIN_SHARE)
    rows = texture[:boundary] if split == "train" else texture[boundary:]
    side = min(size, *rows.shape)
    top, left = rng.integers(0, rows.shape[0] - side + 1), rng.integers(0, rows.shape[1] - side + 1)
    crop = rows[top : top + side, left : left + side]
    if side < size:
        from skimage.transform import resize

        crop = resize(crop, (size, size), order=1)
    return crop


@functools.lru_cache(maxsize=4)
def _default_chips(image_size: int, looks: int = LOOKS, seed: int = 0) -> dict:
    """Simulate each class's chips into a GeoTIFF mosaic, chip it back through the processor → tensors."""
    rng = np.random.default_rng(seed)
    textures = [_texture(name) for name in TEXTURES]
    processor = SarJepaProcessor(image_size=image_size, input_kind="intensity", output_kind="amplitude")
    train_rows = int(MOSAIC_SIDE * TRAIN_SHARE)
    tiles = {"train": [], "test": []}
    with tempfile.TemporaryDirectory() as folder:
        for label, name in enumerate(CLASSES):
            mosaic = np.empty((MOSAIC_SIDE * image_size,) * 2, np.float32)
            for row in range(MOSAIC_SIDE):
                split = "train" if row < train_rows else "test"
                for col in range(MOSAIC_SIDE):
                    texture = textures[rng.integers(len(textures))]
                    clutter = clutter_reflectivity(_clutter_crop(texture, split, image_size, rng))
                    chip = speckle(add_target(clutter, name, rng), looks, rng)
                    mosaic[row * image_size : (row + 1) * image_size, col * image_size : (col + 1) * image_size] = chip
            path = write_geotiff(Path(folder) / f"{name}.tif", mosaic, origin=(500_000.0 + 10_000 * label, 4_500_000.0))
            for tile in processor.chip(path, image_size, image_size):
                tiles["train" if tile.window[0] < train_rows * image_size else "test"].append((tile, label))
    processor.fit([tile for tile, _ in tiles["train"]])
    out = {"processor": processor}
    for split, items in tiles.items():
        pixels = torch.stack([processor(tile)["pixel_values"] for tile, _ in items])
        out[split] = (pixels, torch.tensor([label for _, label in items]))
    return out


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")


def default_dataset(split: str, config: SarJepaConfig, augment: bool | None = None) -> SarChipDataset:
    """MSTAR-like target chips (4 classes, L = 4 looks), `image_size`² amplitude in [0, 1]; train is augmented."""
    _check_split(split)
    if config.num_channels != 1:
        raise ValueError(
            f"the embedded data set is single-channel but the config has num_channels={config.num_channels}; "
            "pass your own GeoTIFFs with --data"
        )
    pixels, labels = _default_chips(config.image_size)[split]
    train = split == "train" if augment is None else augment
    return SarChipDataset(pixels, labels, config, train, CLASSES)


def default_processor(config: SarJepaConfig) -> SarJepaProcessor:
    """The processor (with its fitted clip value) that prepared the embedded data."""
    return _default_chips(config.image_size)["processor"]


def _geotiffs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in GEOTIFF_SUFFIXES)


def load_dataset(
    path: str | Path, split: str, config: SarJepaConfig, processor: SarJepaProcessor | None = None
) -> SarChipDataset:
    """GeoTIFFs from `path`, prepared by `processor` (default: the one saved in `path`, else per-chip scaling).

    - `path/<split>/<class>/*.tif` or `path/<class>/*.tif` (MSTAR-style; every 5th file of a class is "test"):
      labelled chips, classes in sorted order;
    - a folder of `*.tif` chips, or one scene `.tif` (cut into `image_size`² tiles): unlabelled.
    """
    _check_split(split)
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist; pass a GeoTIFF or a folder of GeoTIFFs (one per class)")
    if processor is None:
        saved = root if root.is_dir() and (root / "preprocessor_config.json").is_file() else None
        processor = SarJepaProcessor.from_pretrained(saved) if saved else SarJepaProcessor.from_config(config)
    augment = split == "train"
    if root.is_file():
        tiles = processor.chip(root, config.image_size)
        return SarChipDataset(torch.stack([processor(t)["pixel_values"] for t in tiles]), None, config, augment)
    if (root / split).is_dir():
        root, files_of_split = root / split, None
    else:
        files_of_split = split
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        files = _geotiffs(root)
        if not files:
            raise ValueError(f"{root} holds no .tif files and no class folders")
        return SarChipDataset(torch.stack([processor(f)["pixel_values"] for f in files]), None, config, augment)
    chips, labels = [], []
    for label, folder in enumerate(classes):
        files = _geotiffs(folder)
        if not files:
            raise ValueError(f"the class folder {folder} holds no .tif files; add chips to it or remove it")
        if files_of_split is not None:
            files = [f for i, f in enumerate(files) if (i % TEST_EVERY == TEST_EVERY - 1) == (split == "test")]
        chips += [processor(f)["pixel_values"] for f in files]
        labels += [label] * len(files)
    if not chips:
        raise ValueError(f"the class folders of {root} hold no .tif files for split {split!r}")
    names = tuple(folder.name for folder in classes)
    return SarChipDataset(torch.stack(chips), torch.tensor(labels), config, augment, names)


def embed(encoder, dataset: SarChipDataset, batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean-pooled patch tokens (the CLS token left out) of a frozen encoder, with the labels."""
    batches = [
        {"pixel_values": dataset.pixel_values[i : i + batch_size], "labels": dataset.labels[i : i + batch_size]}
        for i in range(0, len(dataset), batch_size)
    ]
    return extract_embeddings(encoder, batches, num_prefix_tokens=encoder.config.num_register_tokens)


def few_shot_indices(labels: torch.Tensor, shots: int, seed: int) -> torch.Tensor:
    """`shots` random training indices per class (all of a class when it has fewer)."""
    generator = torch.Generator().manual_seed(seed)
    picks = []
    for label in labels.unique():
        members = (labels == label).nonzero().squeeze(1)
        picks.append(members[torch.randperm(len(members), generator=generator)[:shots]])
    return torch.cat(picks)


def evaluate(encoder, config: SarJepaConfig, data: str | None = None, seeds: int = 3) -> dict[str, float]:
    """The paper's few-shot protocol on labelled chips (default: the embedded set), for a pretrained encoder.

    - `finetune_{10,20,40}_shot_accuracy`: the whole encoder and a linear head fine-tuned on 10 / 20 / 40 chips
      per class (`finetuning.finetune_classifier`, one draw: it is the costly part);
    - `linear_probe_accuracy`: logistic regression on standardised mean-pooled patch tokens of the frozen
      encoder, all training chips; `probe_{10,20,40}_shot_accuracy`: the same on few shots, mean of `seeds` draws.
    """
    if data is None:
        train, test = default_dataset("train", config, augment=False), default_dataset("test", config)
    else:
        train, test = load_dataset(data, "train", config), load_dataset(data, "test", config)
    if train.labels is None or test.labels is None:
        raise ValueError(f"{data} has no class folders, so there are no labels to probe; use <root>/<class>/*.tif")
    metrics = {}
    for shots in FEW_SHOTS:
        keep = few_shot_indices(train.labels, shots, seed=0)
        classifier, _ = finetune_classifier(encoder, train.pixel_values[keep], train.labels[keep])
        metrics[f"finetune_{shots}_shot_accuracy"] = accuracy(classifier, test.pixel_values, test.labels)
    train_x, train_y = embed(encoder, train)
    test_x, test_y = embed(encoder, test)
    metrics["linear_probe_accuracy"] = linear_probe(train_x, train_y, test_x, test_y)["accuracy"]
    for shots in FEW_SHOTS:
        accuracies = []
        for seed in range(seeds):
            keep = few_shot_indices(train_y, shots, seed)
            accuracies.append(linear_probe(train_x[keep], train_y[keep], test_x, test_y)["accuracy"])
        metrics[f"probe_{shots}_shot_accuracy"] = float(np.mean(accuracies))
    return metrics
