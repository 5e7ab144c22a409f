"""SAR-JEPA's targets and inputs.

Targets: the multi-scale *gradient by ratio* (GR) maps of the paper. For a half-width r, the means of the
left/right (and top/bottom) halves of a (2r+1)² box around each pixel are compared by their log-ratio;
multiplicative speckle becomes additive in the log and cancels, so the operator sees edges, not speckle.

Inputs: `SarJepaProcessor` reads GeoTIFFs with rasterio (single/multi-band, intensity, amplitude, complex SLC,
dB), masks nodata, chips scenes into georeferenced tiles and scales amplitude to [0, 1].
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import torch
import torch.nn.functional as F
from rasterio import Affine
from rasterio.errors import RasterioError
from rasterio.windows import Window
from torch import nn
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature

INPUT_KINDS = ("intensity", "amplitude", "complex")
OUTPUT_KINDS = ("amplitude", "intensity")
PROCESSOR_FILE = "preprocessor_config.json"


def gradient_by_ratio(image: torch.Tensor, radius: int, offset: float = 0.01) -> torch.Tensor:
    """GR magnitude of (B, C, H, W) non-negative images at half-width `radius` → (B, C, H, W).

    x' = reflect_pad(x, r) + offset; Gx = log(mean of the left half / mean of the right half), both halves
    (2r+1) × (r+1) and sharing the centre column; Gy likewise with top / bottom; result √(Gx² + Gy²).
    """
    if image.ndim != 4:
        raise ValueError(f"expected images shaped (batch, channels, height, width), got {tuple(image.shape)}")
    height, width = image.shape[-2:]
    if radius < 1 or min(height, width) <= radius:
        raise ValueError(
            f"a {height}×{width} image is too small for the gradient half-width {radius} (reflect padding needs "
            f"a side larger than it); use larger chips or smaller gradient_scales"
        )
    x = F.pad(image.float(), (radius,) * 4, mode="reflect") + offset
    across = F.avg_pool2d(x, (2 * radius + 1, radius + 1), stride=1)  # (…, H, W + r)
    down = F.avg_pool2d(x, (radius + 1, 2 * radius + 1), stride=1)  # (…, H + r, W)
    gx = torch.log(across[..., :, :width] / across[..., :, radius:])
    gy = torch.log(down[..., :height, :] / down[..., radius:, :])
    return torch.sqrt(gx**2 + gy**2)


def patchify(maps: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, K, H, W) → (B, N, K·p²): per row-major patch, each map's p×p pixels row-major, maps in order."""
    batch, maps_count, height, width = maps.shape
    rows, cols = height // patch_size, width // patch_size
    x = maps.reshape(batch, maps_count, rows, patch_size, cols, patch_size)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(batch, rows * cols, maps_count * patch_size**2)


def multiscale_gradient_targets(
    pixel_values: torch.Tensor, scales: tuple[int, ...], patch_size: int, offset: float = 0.01
) -> torch.Tensor:
    """The SAR-JEPA target: GR maps at every half-width in `scales`, patchified and concatenated → (B, N, D)."""
    if not torch.isfinite(pixel_values).all() or (pixel_values < 0).any():
        raise ValueError("gradient targets need finite, non-negative pixel values (amplitude scaled to [0, 1])")
    maps = torch.cat([gradient_by_ratio(pixel_values, r, offset) for r in scales], dim=1)
    return patchify(maps, patch_size)


class MultiScaleGradientTarget(nn.Module):
    """`multiscale_gradient_targets` as a parameter-free module, for `jepa_core.targets.FixedTransformTarget`."""

    def __init__(self, scales: tuple[int, ...], patch_size: int, offset: float = 0.01):
        super().__init__()
        self.scales, self.patch_size, self.offset = tuple(scales), patch_size, offset

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return multiscale_gradient_targets(pixel_values, self.scales, self.patch_size, self.offset)


def db_to_linear(values: np.ndarray, kind: str = "intensity") -> np.ndarray:
    """Decibels → linear power (10·log10 I) or amplitude (20·log10 A)."""
    return np.power(10.0, np.asarray(values, dtype=np.float64) / (10.0 if kind == "intensity" else 20.0))


def linear_to_db(values: np.ndarray, kind: str = "intensity", floor: float = 1e-10) -> np.ndarray:
    """Linear intensity or amplitude → decibels; values below `floor` are clipped to it."""
    return (10.0 if kind == "intensity" else 20.0) * np.log10(np.maximum(values, floor))


@dataclass
class SarRaster:
    """Linear SAR values (C, H, W) float32, the valid-pixel mask (H, W) and the georeferencing of the array."""

    values: np.ndarray
    valid: np.ndarray
    crs: str | None
    transform: tuple[float, ...]
    window: tuple[int, int, int, int] = (0, 0, 0, 0)  # row offset, column offset, height, width in the file
    source: str = ""


class SarJepaProcessor(BaseImageProcessor):
    """GeoTIFF → model input, a transformers image processor. Every choice is an attribute, saved with
    `save_pretrained` in `preprocessor_config.json` (every `jepa pretrain` run has it; `AutoImageProcessor` /
    `AutoProcessor.from_pretrained(run)` load it after `import sar_jepa`).

    - `bands`: 1-based bands to read (None: all); their count must equal `num_channels` (× 2 for I/Q pairs).
    - `input_kind`: what the pixels are: "intensity" (σ⁰, |z|²), "amplitude" (|z|) or "complex" (a complex
      band, or two real bands I, Q per channel); `input_db`: values are decibels.
    - `output_kind`: what the model sees, "amplitude" (the paper) or "intensity".
    - scaling: divide by `clip_value` (fitted on training data by `fit`) or, when it is None, by each chip's
      own `clip_percentile` percentile; then clip to [0, 1].
    - nodata (the file's nodata/mask and NaN) is filled with the channel median of the valid pixels; a chip
      with fewer than `min_valid_fraction` valid pixels is an error (or skipped by `chip`).

    `processor(source, return_tensors="pt")` takes one source (a GeoTIFF path, a `SarRaster`, a linear array
    (C, H, W) or (H, W) of `input_kind`) or a list of them → `BatchFeature(pixel_values=(B, C, S, S))`, so that
    `model(**inputs)` works; `prepare(source)` gives one chip's (C, S, S) tensor.
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        image_size: int = 224,
        num_channels: int = 1,
        bands: tuple[int, ...] | None = None,
        input_kind: str = "intensity",
        input_db: bool = False,
        output_kind: str = "amplitude",
        clip_value: float | None = None,
        clip_percentile: float = 99.0,
        min_valid_fraction: float = 0.5,
        **kwargs,
    ):
        if input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")
        if output_kind not in OUTPUT_KINDS:
            raise ValueError(f"output_kind must be one of {OUTPUT_KINDS}, got {output_kind!r}")
        if clip_value is not None and not clip_value > 0:
            raise ValueError(f"clip_value must be positive, got {clip_value}")
        super().__init__(**kwargs)
        self.image_size, self.num_channels = int(image_size), int(num_channels)
        self.bands = None if bands is None else tuple(int(b) for b in bands)
        self.input_kind, self.input_db, self.output_kind = input_kind, bool(input_db), output_kind
        self.clip_value = None if clip_value is None else float(clip_value)
        self.clip_percentile, self.min_valid_fraction = float(clip_percentile), float(min_valid_fraction)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SarJepaProcessor) and self.to_dict() == other.to_dict()

    __hash__ = None

    @classmethod
    def from_config(cls, config, **overrides) -> "SarJepaProcessor":
        return cls(image_size=config.image_size, num_channels=config.num_channels, **overrides)

    # ---------------------------------------------------------------- reading
    def _expected_bands(self) -> int:
        return self.num_channels * (2 if self.input_kind == "complex" else 1)

    def read(self, path: str | Path, window: Window | None = None) -> SarRaster:
        """Read a GeoTIFF (or a window of it) into linear `output_kind` values with its valid mask."""
        try:
            with rasterio.open(path) as src:
                bands = self.bands or tuple(range(1, src.count + 1))
                if max(bands) > src.count or min(bands) < 1:
                    raise ValueError(f"{path}: bands {bands} requested but the file has bands 1..{src.count}")
                is_complex = np.dtype(src.dtypes[bands[0] - 1]).kind == "c"
                wanted = self.num_channels if is_complex else self._expected_bands()
                if len(bands) != wanted:
                    raise ValueError(
                        f"{path} has {len(bands)} band(s) {bands} but {wanted} are needed "
                        f"({self.num_channels} channel(s) of {self.input_kind}); pick them with bands=(…)"
                    )
                data = src.read(bands, window=window)
                masks = src.read_masks(bands, window=window)
                crs = src.crs.to_string() if src.crs else None
                offset = (int(window.row_off), int(window.col_off)) if window is not None else (0, 0)
                transform = src.transform @ Affine.translation(offset[1], offset[0])
        except RasterioError as error:
            raise ValueError(f"cannot read {path} as a GeoTIFF ({error}); is the file truncated or corrupt?") from error
        valid = (masks > 0).all(axis=0) & np.isfinite(data).all(axis=0)
        values = self.to_linear(data, valid, is_complex, str(path))
        return SarRaster(values, valid, crs, tuple(transform)[:6], (*offset, *values.shape[-2:]), str(path))

    def to_linear(
        self, data: np.ndarray, valid: np.ndarray, is_complex: bool = False, name: str = "input"
    ) -> np.ndarray:
        """Raw band values (bands, H, W) → linear `output_kind` (C, H, W) float32; invalid pixels become 0."""
        if is_complex or np.iscomplexobj(data):
            amplitude = np.abs(data)
        elif self.input_kind == "complex":
            amplitude = np.hypot(data[0::2].astype(np.float64), data[1::2].astype(np.float64))
        else:
            values = np.where(valid, data, 0).astype(np.float64)
            if self.input_db:
                values = db_to_linear(values, self.input_kind)
            elif (values < 0).any():
                count = int((values < 0).sum())
                raise ValueError(
                    f"{name}: {count} negative {self.input_kind} values; linear SAR values are >= 0. "
                    "If the file is in decibels pass input_db=True; if it is complex I/Q use input_kind='complex'"
                )
            amplitude = np.sqrt(values) if self.input_kind == "intensity" else values
        amplitude = np.where(valid, amplitude, 0.0)
        out = amplitude**2 if self.output_kind == "intensity" else amplitude
        return out.astype(np.float32)

    # ---------------------------------------------------------------- scaling
    def scale(self, values: np.ndarray, valid: np.ndarray, name: str = "input") -> torch.Tensor:
        """Fill nodata, divide by the clip value, clip to [0, 1] and resize to `image_size` → (C, S, S)."""
        fraction = float(valid.mean()) if valid.size else 0.0
        if fraction < self.min_valid_fraction or not valid.any():
            raise ValueError(
                f"{name}: only {fraction:.0%} of the pixels are valid (nodata or NaN elsewhere), below "
                f"min_valid_fraction={self.min_valid_fraction}; skip this chip or lower min_valid_fraction"
            )
        filled = values.copy()
        for channel in filled:
            channel[~valid] = np.median(channel[valid])
        clip = self.clip_value or float(np.percentile(filled, self.clip_percentile)) or 1.0
        x = torch.from_numpy(np.clip(filled / clip, 0.0, 1.0).astype(np.float32))
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            x = F.interpolate(x[None], size=(self.image_size,) * 2, mode="bilinear", antialias=True)[0].clamp(0, 1)
        return x

    def fit(self, rasters: Iterable[SarRaster]) -> "SarJepaProcessor":
        """Set `clip_value` to the `clip_percentile` percentile of the valid pixels of `rasters` (a list, or a
        sequence that reads them from files on demand: read in passes, never joined; the exact percentile)."""
        from jepa_core.running_stats import percentiles

        try:
            clip = percentiles(lambda: (r.values[:, r.valid].ravel() for r in rasters), self.clip_percentile)
        except ValueError:
            raise ValueError("fit got no valid pixels") from None
        self.clip_value = float(clip) or 1.0
        return self

    def prepare(self, source: str | Path | SarRaster | np.ndarray) -> torch.Tensor:
        """One GeoTIFF path, `SarRaster` or linear array (C, H, W) / (H, W) of `input_kind` → (C, S, S) in [0, 1]."""
        if isinstance(source, str | Path):
            source = self.read(source)
        if isinstance(source, torch.Tensor):
            source = source.numpy()
        if isinstance(source, np.ndarray):
            data = source if source.ndim == 3 else source[None]
            valid = np.isfinite(data).all(axis=0)
            source = SarRaster(self.to_linear(data, valid), valid, None, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
        min_side = min(source.values.shape[-2:])
        if min_side < self.image_size // 4:
            raise ValueError(
                f"{source.source or 'the chip'} is {source.values.shape[-2]}×{source.values.shape[-1]} px, more "
                f"than 4× smaller than the model input {self.image_size}; use larger chips or a smaller image_size"
            )
        return self.scale(source.values, source.valid, source.source or "input")

    def __call__(self, images, return_tensors: str | None = "pt", **kwargs) -> BatchFeature:
        """One source or a list of them (see `prepare`) → `BatchFeature(pixel_values=(B, C, S, S))`."""
        sources = list(images) if isinstance(images, list | tuple) else [images]
        if not sources:
            raise ValueError("no SAR chips to process")
        pixels = torch.stack([self.prepare(source) for source in sources])
        return BatchFeature({"pixel_values": pixels.numpy()}, tensor_type=return_tensors)

    def preprocess(self, images, return_tensors: str | None = "pt", **kwargs) -> BatchFeature:
        return self(images, return_tensors=return_tensors)

    # ---------------------------------------------------------------- chipping
    def chip(self, path: str | Path, size: int | None = None, stride: int | None = None) -> list[SarRaster]:
        """Cut a scene into `size`² tiles every `stride` px; each keeps its window and geotransform.

        Tiles with fewer than `min_valid_fraction` valid pixels are skipped.
        """
        return [self.read(path, window) for window in self.chip_windows(path, size, stride)]

    def chip_windows(self, path: str | Path, size: int | None = None, stride: int | None = None) -> list[Window]:
        """The windows of `chip`'s tiles (each tile is read once to check its valid share, and not kept)."""
        size = size or self.image_size
        stride = stride or size
        try:
            with rasterio.open(path) as src:
                height, width = src.height, src.width
        except RasterioError as error:
            raise ValueError(f"cannot read {path} as a GeoTIFF ({error}); is the file truncated or corrupt?") from error
        if min(height, width) < size:
            raise ValueError(f"{path} is {height}×{width} px, smaller than one {size}×{size} tile; use a smaller size")
        windows = []
        for row in range(0, height - size + 1, stride):
            for col in range(0, width - size + 1, stride):
                window = Window(col, row, size, size)
                if self.read(path, window).valid.mean() >= self.min_valid_fraction:
                    windows.append(window)
        return windows


def write_geotiff(
    path: str | Path,
    array: np.ndarray,
    crs: str = "EPSG:32633",
    origin: tuple[float, float] = (500_000.0, 4_500_000.0),
    pixel_size: float = 1.0,
    nodata: float | None = None,
) -> Path:
    """Write (H, W) or (bands, H, W) (real or complex) as a tiled, deflated GeoTIFF with a north-up transform."""
    data = array if array.ndim == 3 else array[None]
    transform = rasterio.transform.from_origin(*origin, pixel_size, pixel_size)
    profile = dict(
        driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0], dtype=data.dtype.name,
        crs=crs, transform=transform, nodata=nodata,
    )  # fmt: skip
    if not np.iscomplexobj(data) and data.shape[1] % 16 == 0 and data.shape[2] % 16 == 0:
        profile.update(tiled=True, blockxsize=16, blockysize=16, compress="deflate")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return Path(path)
