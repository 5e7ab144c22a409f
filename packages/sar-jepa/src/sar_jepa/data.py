"""SAR data: the embedded MSTAR-like target chips, folders of GeoTIFFs per class, and few-shot evaluation.

No real SAR ships in any package, so the embedded set simulates it (`simulation`): one of four vehicle targets
(truck, tank, APC, dozer: the label) centred on clutter cut from real scikit-image textures, with its radar
shadow, × Gamma(L, 1/L) speckle (L looks) as intensity. The chips of each class are written as one
georeferenced float32 GeoTIFF mosaic and read back by `SarJepaProcessor.chip`, the path real scenes take.
The top 3/4 of each mosaic is "train", the rest "test"; their clutter comes from disjoint texture rows.
"""

import functools
import logging
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from jepa_core.evaluation import Embedded, linear_probe, pool_tokens
from jepa_core.overrides import ConfigFieldError
from rasterio.windows import Window
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
logger = logging.getLogger(__name__)


class GeoTiffChips(Sequence):
    """Chips of GeoTIFFs read and prepared when used: item i is `processor.prepare` of the chip `refs[i]` (a file
    and a window of it, or None for the whole file); `rasters()` gives them as read, unprepared. Nothing is kept,
    so memory does not grow with the number of files."""

    def __init__(self, refs: list[tuple[Path, Window | None]], processor: SarJepaProcessor):
        self.refs, self.processor = refs, processor

    def raster(self, index: int) -> SarRaster:
        path, window = self.refs[index]
        return self.processor.read(path, window)

    def rasters(self) -> Sequence[SarRaster]:
        """The chips as read (not prepared), each read again when it is used."""
        return _Rasters(self)

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.processor.prepare(self.raster(index))


class _Rasters(Sequence):
    def __init__(self, chips: GeoTiffChips):
        self.chips = chips

    def __len__(self) -> int:
        return len(self.chips)

    def __getitem__(self, index: int) -> SarRaster:
        return self.chips.raster(index)


class SarChipDataset(Dataset):
    """Prepared chips `{"pixel_values": (C, S, S)[, "labels"]}`; `augment` applies the paper's train transform
    (to samples only: `pixel_values`, which evaluation reads, stay as prepared). `processor` prepared them.

    The chips are a tensor (the embedded data) or `GeoTiffChips` read from a user's files when used; then
    `pixel_values` reads them all (evaluation), `chips(indices)` and `batches(size)` only what they give."""

    def __init__(
        self,
        pixel_values: torch.Tensor | GeoTiffChips,
        labels: torch.Tensor | None,
        config: SarJepaConfig,
        augment: bool = False,
        class_names: tuple[str, ...] = (),
        ids: list[str] | None = None,
        processor: SarJepaProcessor | None = None,
        skipped_files: tuple[str, ...] = (),
    ):
        if labels is not None and len(labels) != len(pixel_values):
            raise ValueError(f"{len(pixel_values)} chips but {len(labels)} labels")
        self._chips, self.labels, self.config = pixel_values, labels, config
        self.augment, self.class_names = augment, class_names or None
        self.ids = ids if ids is not None else [str(i) for i in range(len(pixel_values))]
        self.processor = processor
        self.skipped_files = skipped_files  # bad files the pre-check left out (`--set on_bad_file=skip`)

    @property
    def pixel_values(self) -> torch.Tensor:
        """Every prepared chip (N, C, S, S)."""
        return self._chips if isinstance(self._chips, torch.Tensor) else self.chips(range(len(self)))

    def chips(self, indices) -> torch.Tensor:
        """The prepared chips at `indices`, stacked."""
        if isinstance(self._chips, torch.Tensor):
            return self._chips[torch.as_tensor(indices, dtype=torch.long)]
        return torch.stack([self._chips[int(i)] for i in indices])

    def batches(self, size: int) -> Iterator[torch.Tensor]:
        """The prepared chips in order, `size` at a time."""
        for start in range(0, len(self), size):
            yield self.chips(range(start, min(start + size, len(self))))

    def __len__(self) -> int:
        return len(self._chips)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        x = self._chips[index]
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
    Every GeoTIFF is pre-checked first; with `--set on_bad_file=skip` the bad ones are left out and listed in the
    data set's `skipped_files`. The data set keeps where each chip is (file, window), not its pixels, and reads it
    when it is used; the clip value is the exact percentile over the training chips, read in passes.
    """
    _check_split(split)
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist; pass a GeoTIFF or a folder of GeoTIFFs (one per class)")
    usable = _precheck(root, config)
    if processor is None:
        saved = root if root.is_dir() and (root / "preprocessor_config.json").is_file() else None
        if saved:
            processor = SarJepaProcessor.from_pretrained(saved)
        else:
            kind, in_db = input_kind_of(sorted(usable), config.input_kind)
            processor = SarJepaProcessor.from_config(config, input_kind=kind, input_db=in_db)
        if processor.clip_value is None:
            processor.fit(GeoTiffChips(_read_split(root, "train", config, processor, usable)[0], processor).rasters())
    refs, labels, ids, names = _read_split(root, split, config, processor, usable)
    skipped = tuple(str(p) for p in _all_geotiffs(root) if p not in usable)
    chips = GeoTiffChips(refs, processor)
    return SarChipDataset(chips, labels, config, split == "train", names, ids, processor, skipped)


KIND_WORDS = (
    ("db", ("decibel", "db")),
    ("amplitude", ("amplitude", "magnitude")),
    ("intensity", ("intensity", "sigma0", "sigma_0", "beta0", "gamma0", "power", "backscatter")),
)


def _all_geotiffs(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in GEOTIFF_SUFFIXES)


def _kind_in_tags(path: Path) -> str | None:
    """The input kind a GeoTIFF declares: its tags (e.g. SAR_INPUT_KIND=amplitude, UNITS=dB), band descriptions or
    units, matched against words (dB/decibel, amplitude, intensity/sigma0/power …); None when it declares none."""
    import rasterio

    with rasterio.open(path) as src:
        if np.dtype(src.dtypes[0]).kind == "c":
            return "complex"
        texts = [f"{k} {v}" for k, v in {**src.tags(), **src.tags(1)}.items() if k.upper() != "AREA_OR_POINT"]
        texts += [t for t in (*src.descriptions, *src.units) if t]
    words = " ".join(texts).lower().replace("_", " ").replace("=", " ").split()
    for kind, keys in KIND_WORDS:
        if any(word.strip(",.;:()[]") in keys for word in words):
            return kind
    return None


def input_kind_of(files: list[Path], setting: str) -> tuple[str, bool]:
    """(processor input_kind, input_db) for the files: `--set input_kind=…`, else the files' tags, else decibels
    when values are negative; otherwise a `ConfigFieldError` (amplitude and intensity look alike)."""
    if setting != "auto":
        return ("intensity", True) if setting == "db" else (setting, False)
    found = {p: _kind_in_tags(p) for p in files}
    kinds = {k for k in found.values() if k is not None}
    if len(kinds) > 1:
        raise ConfigFieldError(
            f"the GeoTIFFs declare different input kinds {sorted(kinds)}; convert them to one, or say which with",
            "input_kind",
            sorted(kinds)[0],
        )
    if kinds and all(k is not None for k in found.values()):
        kind = kinds.pop()
        return ("intensity", True) if kind == "db" else (kind, False)
    import rasterio

    for path in found:
        with rasterio.open(path) as src:
            values = src.read(1, masked=True)
        if values.size and np.nanmin(np.ma.filled(values.astype(np.float64), np.nan)) < 0:
            logger.warning("%s has negative values: reading the files as intensity in dB", path)
            return "intensity", True
    raise ConfigFieldError(
        "the GeoTIFFs do not say whether they hold intensity (power, sigma0) or amplitude (magnitude) values, and "
        "the two look alike (no tag such as SAR_INPUT_KIND or band description found); say which",
        "input_kind",
        "intensity",
    )


def _precheck(root: Path, config: SarJepaConfig) -> frozenset[Path]:
    """Read every GeoTIFF once and report all unreadable, all-NaN/nodata, too small or unchippable ones at once
    (`--set on_bad_file=skip|error`); the files to use."""
    import rasterio
    from jepa_core.data_checks import read_files

    files = _all_geotiffs(root)

    def read(path: Path):
        with rasterio.open(path) as src:
            data = src.read(masked=True)
            return data.shape, bool((np.ma.getmaskarray(data) | ~np.isfinite(np.ma.getdata(data))).all())

    def check(value) -> str | None:
        shape, no_valid_pixel = value
        if no_valid_pixel:
            return "no valid pixel (all NaN or nodata)"
        height, width, size = *shape[-2:], config.image_size
        if min(height, width) < size // 4:
            return f"{height}×{width} px, more than 4× smaller than the model input {size}"
        if min(height, width) < size < max(height, width):
            return f"{height}×{width} px: longer than image_size {size} on one side only (cannot be chipped)"
        return None

    if not files:
        return frozenset()
    return frozenset(path for path, _ in read_files(files, read, check, config.on_bad_file))


def _chips(path: Path, config: SarJepaConfig, processor: SarJepaProcessor) -> list[tuple[Path, Window | None]]:
    """A file's chips (file, window): the whole file when it is at most image_size, else strided image_size²
    chips (never resized)."""
    import rasterio

    with rasterio.open(path) as src:
        height, width = src.height, src.width
    size = config.image_size
    if height <= size and width <= size:
        processor.read(path)  # as before: an unreadable file fails here, not when the chip is used
        return [(path, None)]
    if min(height, width) < size:
        raise ValueError(f"{path} is {height}×{width} px: longer than image_size {size} on one side only")
    return [(path, window) for window in processor.chip_windows(path, size, config.chip_stride or size)]


def _chip_id(prefix: str, chip: tuple[Path, Window | None], whole: bool) -> str:
    window = chip[1]
    return prefix if whole else f"{prefix}-r{int(window.row_off)}c{int(window.col_off)}"


def _read_split(
    root: Path, split: str, config: SarJepaConfig, processor: SarJepaProcessor, usable: frozenset[Path]
) -> tuple[list[tuple[Path, Window | None]], torch.Tensor | None, list[str], tuple[str, ...]]:
    """The split's chips as (file, window), with labels (None when unlabelled), ids and class names; only the `usable`
    files (those the pre-check passed) are read, the train/test assignment is by position among all files."""
    if root.is_file():
        found = _chips(root, config, processor) if root in usable else []
        return found, None, [_chip_id(root.stem, t, len(found) == 1) for t in found], ()
    if (root / "train").is_dir() and (root / "test").is_dir():
        if split == "all":
            found = [_read_split(root / part, "all", config, processor, usable) for part in ("train", "test")]
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
        found = [(f, t, n) for f in files if f in usable for n in [_chips(f, config, processor)] for t in n]
        return [t for _, t, _ in found], None, [_chip_id(f.stem, t, len(n) == 1) for f, t, n in found], ()
    chips, labels, ids = [], [], []
    for label, folder in enumerate(classes):
        files = _geotiffs(folder)
        if not files:
            raise ValueError(f"the class folder {folder} holds no .tif files; add chips to it or remove it")
        if files_of_split is not None:
            files = [f for i, f in enumerate(files) if (i % TEST_EVERY == TEST_EVERY - 1) == (split == "test")]
        for file in (f for f in files if f in usable):
            found = _chips(file, config, processor)
            chips += found
            labels += [label] * len(found)
            ids += [_chip_id(f"{folder.name}/{file.stem}", t, len(found) == 1) for t in found]
    if not chips:
        raise ValueError(f"the class folders of {root} hold no .tif files for split {split!r}")
    return chips, torch.tensor(labels), ids, tuple(folder.name for folder in classes)


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
            for x in dataset.batches(batch_size)
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
    metrics, test_pixels = {}, test.pixel_values
    for shots in FEW_SHOTS:
        keep = few_shot_indices(train.labels, shots, seed=0)
        classifier, _ = finetune_classifier(encoder, train.chips(keep), train.labels[keep])
        metrics[f"finetune_{shots}_shot_accuracy"] = accuracy(classifier, test_pixels, test.labels)
    (train_x, train_y), (test_x, test_y) = embed(encoder, train), embed(encoder, test)
    for shots in FEW_SHOTS:
        accuracies = []
        for seed in range(seeds):
            keep = few_shot_indices(train_y, shots, seed)
            accuracies.append(linear_probe(train_x[keep], train_y[keep], test_x, test_y)["accuracy"])
        metrics[f"probe_{shots}_shot_accuracy"] = float(np.mean(accuracies))
    return metrics
