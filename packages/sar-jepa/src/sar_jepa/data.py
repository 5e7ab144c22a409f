"""SAR data: the embedded MSTAR-like target chips, folders of GeoTIFFs per class, and few-shot evaluation.

No real SAR ships in any package, so the embedded set simulates it (`simulation`): one of four vehicle targets
(truck, tank, APC, dozer: the label) centred on clutter cut from real scikit-image textures, with its radar
shadow, × Gamma(L, 1/L) speckle (L looks) as intensity. The chips of each class are written as one
georeferenced float32 GeoTIFF mosaic and read back by `SarJepaProcessor.chip`, the path real scenes take.
The top 3/4 of each mosaic is "train", the rest "test"; their clutter comes from disjoint texture rows.
"""

import functools
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from jepa_core.evaluation import Embedded, linear_probe, pool_tokens
from jepa_core.overrides import ConfigFieldError
from torch.utils.data import Dataset

from .configuration_sar_jepa import SarJepaConfig
from .finetuning import accuracy, finetune_classifier
from .processor_sar_jepa import SarJepaProcessor, SarRaster, write_geotiff
from .simulation import TARGETS, TEXTURES, add_target, clutter_reflectivity, speckle

SPLITS = ("train", "test", "all")
CLASSES = tuple(TARGETS)
LOOKS = 4
MOSAIC_SIDE = 16  # chips per side of each class mosaic: 256 chips per class
TRAIN_SHARE = 0.75
TEST_EVERY = 5
FEW_SHOTS = (10, 20, 40)
GEOTIFF_SUFFIXES = (".tif", ".tiff")


class SarChipDataset(Dataset):
    """Prepared chips `{"pixel_values": (C, S, S)[, "labels"]}`; `augment` applies the paper's train transform
    (to samples only: `pixel_values`, which evaluation reads, stay as prepared). `processor` prepared them."""

    def __init__(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None,
        config: SarJepaConfig,
        augment: bool = False,
        class_names: tuple[str, ...] = (),
        ids: list[str] | None = None,
        processor: SarJepaProcessor | None = None,
    ):
        if labels is not None and len(labels) != len(pixel_values):
            raise ValueError(f"{len(pixel_values)} chips but {len(labels)} labels")
        self.pixel_values, self.labels, self.config = pixel_values, labels, config
        self.augment, self.class_names = augment, class_names or None
        self.ids = ids if ids is not None else [str(i) for i in range(len(pixel_values))]
        self.processor = processor

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


CACHE_VERSION = 1


def cache_folder() -> Path:
    """Where the simulated chips are kept between processes (`JEPA_SAR_CACHE`, default ~/.cache/jepa-sar)."""
    return Path(os.environ.get("JEPA_SAR_CACHE") or Path.home() / ".cache" / "jepa-sar")


@functools.lru_cache(maxsize=4)
def _default_chips(image_size: int, looks: int = LOOKS, seed: int = 0) -> dict:
    """The simulated tiles (from a cache file after the first time) and the tensors prepared by the processor
    fitted on the training tiles."""
    path = cache_folder() / f"chips-v{CACHE_VERSION}-{image_size}px-{looks}looks-seed{seed}.npz"
    tiles = _read_cached_tiles(path) if path.is_file() else None
    if tiles is None:
        tiles = _simulate_tiles(image_size, looks, seed)
        _write_cached_tiles(path, tiles)
    processor = SarJepaProcessor(image_size=image_size, input_kind="intensity", output_kind="amplitude")
    processor.fit([tile for tile, _, _ in tiles["train"]])
    pixels = {split: _prepare([tile for tile, _, _ in items], processor) for split, items in tiles.items()}
    return {"processor": processor, "tiles": tiles, "pixels": pixels}


def _write_cached_tiles(path: Path, tiles: dict) -> None:
    arrays = {}
    for split, items in tiles.items():
        arrays[f"{split}_values"] = np.stack([tile.values for tile, _, _ in items])
        arrays[f"{split}_valid"] = np.stack([tile.valid for tile, _, _ in items])
        arrays[f"{split}_labels"] = np.array([label for _, label, _ in items])
        arrays[f"{split}_ids"] = np.array([tile_id for _, _, tile_id in items])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as handle:
            np.savez(handle, **arrays)
        Path(handle.name).replace(path)  # atomic: concurrent processes never read a half-written file
    except OSError:
        pass  # a read-only home: simulate again next time


def _read_cached_tiles(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return {
                split: [
                    (SarRaster(values, valid, None, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)), int(label), str(tile_id))
                    for values, valid, label, tile_id in zip(
                        arrays[f"{split}_values"],
                        arrays[f"{split}_valid"],
                        arrays[f"{split}_labels"],
                        arrays[f"{split}_ids"],
                        strict=True,
                    )  # fmt: skip
                ]
                for split in ("train", "test")
            }
    except (OSError, KeyError, ValueError):
        return None


def _simulate_tiles(image_size: int, looks: int, seed: int) -> dict:
    """Simulate each class's chips into a GeoTIFF mosaic and chip it back through the processor → tiles."""
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
                split = "train" if tile.window[0] < train_rows * image_size else "test"
                tile_id = f"{split}-{name}-r{tile.window[0] // image_size:02d}c{tile.window[1] // image_size:02d}"
                tiles[split].append((tile, label, tile_id))
    return tiles


def _prepare(sources: list, processor: SarJepaProcessor) -> torch.Tensor:
    return torch.stack([processor.prepare(source) for source in sources])


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")


def default_dataset(
    split: str, config: SarJepaConfig, processor: SarJepaProcessor | None = None, augment: bool | None = None
) -> SarChipDataset:
    """MSTAR-like target chips (4 classes, L = 4 looks), `image_size`² amplitude in [0, 1]; train is augmented.

    "all" is train then test, not augmented. Without a processor, the one fitted on the training chips (its
    `clip_value`) prepares them; a given one (e.g. saved in a run) prepares them its way.
    """
    _check_split(split)
    if config.num_channels != 1:
        raise ConfigFieldError(
            f"the embedded data set is single-channel but the config has num_channels={config.num_channels}; "
            "pass your own GeoTIFFs with --data",
            "num_channels",
            1,
        )
    chips = _default_chips(config.image_size)
    fitted = chips["processor"]
    processor = fitted if processor is None else processor
    parts = ("train", "test") if split == "all" else (split,)
    pixels, labels, ids = [], [], []
    for part in parts:
        items = chips["tiles"][part]
        pixels.append(chips["pixels"][part] if processor == fitted else _prepare([t for t, _, _ in items], processor))
        labels += [label for _, label, _ in items]
        ids += [tile_id for _, _, tile_id in items]
    train = split == "train" if augment is None else augment
    return SarChipDataset(torch.cat(pixels), torch.tensor(labels), config, train, CLASSES, ids, processor)


def default_processor(config: SarJepaConfig) -> SarJepaProcessor:
    """The processor (with its fitted clip value) that prepared the embedded data."""
    return _default_chips(config.image_size)["processor"]


def _geotiffs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in GEOTIFF_SUFFIXES)


def load_dataset(
    path: str | Path, split: str, config: SarJepaConfig, processor: SarJepaProcessor | None = None
) -> SarChipDataset:
    """GeoTIFFs from `path`, prepared by `processor`.

    - `path/<split>/<class>/*.tif` or `path/<class>/*.tif` (MSTAR-style; every 5th file of a class is "test"):
      labelled chips, classes in sorted order; "all" is every file;
    - a folder of `*.tif` chips, or one scene `.tif` (cut into `image_size`² tiles): unlabelled.

    Without a processor: the one saved in `path` (`preprocessor_config.json`) if any, else the config's, whose
    `clip_value` is then fitted on the training split's chips (the data set carries it as `processor`).
    """
    _check_split(split)
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist; pass a GeoTIFF or a folder of GeoTIFFs (one per class)")
    if processor is None:
        saved = root if root.is_dir() and (root / "preprocessor_config.json").is_file() else None
        processor = SarJepaProcessor.from_pretrained(saved) if saved else SarJepaProcessor.from_config(config)
        if processor.clip_value is None:
            processor.fit(_read_split(root, "train", config, processor)[0])
    rasters, labels, ids, names = _read_split(root, split, config, processor)
    pixels = _prepare(rasters, processor)
    return SarChipDataset(pixels, labels, config, split == "train", names, ids, processor)


def _read_split(
    root: Path, split: str, config: SarJepaConfig, processor: SarJepaProcessor
) -> tuple[list[SarRaster], torch.Tensor | None, list[str], tuple[str, ...]]:
    """The split's chips as rasters, with labels (None when unlabelled), ids and class names."""
    if root.is_file():
        tiles = processor.chip(root, config.image_size)
        ids = [f"{root.stem}-r{t.window[0]}c{t.window[1]}" for t in tiles]
        return tiles, None, ids, ()
    if (root / "train").is_dir() and (root / "test").is_dir():
        if split == "all":
            found = [_read_split(root / part, "all", config, processor) for part in ("train", "test")]
            labels = None if any(f[1] is None for f in found) else torch.cat([f[1] for f in found])
            return [r for f in found for r in f[0]], labels, [i for f in found for i in f[2]], found[0][3]
        root, files_of_split = root / split, None
    else:
        files_of_split = None if split == "all" else split
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        files = _geotiffs(root)
        if not files:
            raise ValueError(f"{root} holds no .tif files and no class folders")
        return [processor.read(f) for f in files], None, [f.stem for f in files], ()
    rasters, labels, ids = [], [], []
    for label, folder in enumerate(classes):
        files = _geotiffs(folder)
        if not files:
            raise ValueError(f"the class folder {folder} holds no .tif files; add chips to it or remove it")
        if files_of_split is not None:
            files = [f for i, f in enumerate(files) if (i % TEST_EVERY == TEST_EVERY - 1) == (split == "test")]
        rasters += [processor.read(f) for f in files]
        labels += [label] * len(files)
        ids += [f"{folder.name}/{f.stem}" for f in files]
    if not rasters:
        raise ValueError(f"the class folders of {root} hold no .tif files for split {split!r}")
    return rasters, torch.tensor(labels), ids, tuple(folder.name for folder in classes)


@torch.no_grad()
def embed_chips(encoder, dataset: SarChipDataset, batch_size: int = 128) -> Embedded:
    """Mean-pooled patch tokens (the CLS token left out) of the prepared chips (never augmented), in eval mode."""
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    prefix = encoder.config.num_register_tokens
    try:
        features = [
            pool_tokens(encoder(x.to(device)).last_hidden_state, "mean", prefix).float().cpu()
            for x in dataset.pixel_values.split(batch_size)
        ]
    finally:
        encoder.train(was_training)
    labels = None if dataset.labels is None else dataset.labels.numpy()
    return Embedded(torch.cat(features), labels, list(dataset.ids))


def embed(encoder, dataset: SarChipDataset, batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean-pooled patch tokens (the CLS token left out) of a frozen encoder, with the labels."""
    embedded = embed_chips(encoder, dataset, batch_size)
    return embedded.features, dataset.labels


def few_shot_indices(labels: torch.Tensor, shots: int, seed: int) -> torch.Tensor:
    """`shots` random training indices per class (all of a class when it has fewer)."""
    generator = torch.Generator().manual_seed(seed)
    picks = []
    for label in labels.unique():
        members = (labels == label).nonzero().squeeze(1)
        picks.append(members[torch.randperm(len(members), generator=generator)[:shots]])
    return torch.cat(picks)


def extra_metrics(encoder, train: SarChipDataset, test: SarChipDataset, seeds: int = 3) -> dict[str, float]:
    """The paper's few-shot protocol on the labelled splits (the core adds the linear and k-NN probes on all
    training chips):

    - `finetune_{10,20,40}_shot_accuracy`: the whole encoder and a linear head fine-tuned on 10 / 20 / 40 chips
      per class (`finetuning.finetune_classifier`, one draw: it is the costly part);
    - `probe_{10,20,40}_shot_accuracy`: logistic regression on standardised mean-pooled patch tokens of the
      frozen encoder, from few shots, mean of `seeds` draws.
    """
    if train.labels is None or test.labels is None:
        return {}
    metrics = {}
    for shots in FEW_SHOTS:
        keep = few_shot_indices(train.labels, shots, seed=0)
        classifier, _ = finetune_classifier(encoder, train.pixel_values[keep], train.labels[keep])
        metrics[f"finetune_{shots}_shot_accuracy"] = accuracy(classifier, test.pixel_values, test.labels)
    (train_x, train_y), (test_x, test_y) = embed(encoder, train), embed(encoder, test)
    for shots in FEW_SHOTS:
        accuracies = []
        for seed in range(seeds):
            keep = few_shot_indices(train_y, shots, seed)
            accuracies.append(linear_probe(train_x[keep], train_y[keep], test_x, test_y)["accuracy"])
        metrics[f"probe_{shots}_shot_accuracy"] = float(np.mean(accuracies))
    return metrics
