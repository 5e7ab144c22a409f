"""Images → normalised `pixel_values`: I-JEPA's RandomResizedCrop for pretraining, resize + centre crop for evaluation.

Accepted inputs: a file path, a PIL image, a numpy array (H, W) or (H, W, C) channels-last, or a torch tensor
(H, W) or (C, H, W) channels-first; integer arrays are read as 0–255 (uint16 and 16-bit files as 0–65535),
floating ones as 0–1 (values outside these ranges are refused, not clipped). Documented
conversions: grayscale is repeated to RGB, an alpha channel is composited onto a white background, and
images smaller than the crop are upscaled (every crop is resized to `image_size`).
"""

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor

from .configuration_ijepa import ImageJepaConfig

ImageInput = str | Path | Image.Image | np.ndarray | torch.Tensor


def open_image(path: str | Path) -> Image.Image:
    """Open an image file, with a clear error for files that are not images."""
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except UnidentifiedImageError as error:
        raise ValueError(
            f"{path} is not an image file that Pillow can read; remove it from the data or convert it to PNG/JPEG"
        ) from error


def _pil_to_array(image: Image.Image) -> np.ndarray:
    """8-bit modes → uint8 (L, LA, RGB, RGBA); 16-bit and 32-bit integer gray → float in [0, 1] by the 16-bit range
    (not clipped at 255); float gray ("F") as it is, checked by `to_float_chw`."""
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if image.mode == "F":
            return values.astype(np.float32)
        if values.min() < 0 or values.max() > 65535:
            raise ValueError(
                f"a 32-bit integer image with values {values.min():g}..{values.max():g} outside the 16-bit range; "
                "convert it to 8 or 16 bits"
            )
        return (values / 65535.0).astype(np.float32)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    gray = image.mode in ("1", "L", "LA", "I", "I;16", "F")
    mode = ("LA" if has_alpha else "L") if gray else ("RGBA" if has_alpha else "RGB")
    return np.array(image.convert(mode))


def to_float_chw(image: ImageInput) -> torch.Tensor:
    """Any accepted input → float (C, H, W) in [0, 1] with C in 1–4 (gray, gray+alpha, RGB, RGBA)."""
    if isinstance(image, str | Path):
        image = open_image(image)
    if isinstance(image, Image.Image):
        image = _pil_to_array(image)
    if isinstance(image, np.ndarray):
        if image.ndim == 3:
            image = image.transpose(2, 0, 1)
        image = torch.from_numpy(np.ascontiguousarray(image))
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"expected a path, PIL image, numpy array or torch tensor, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[None]
    if image.ndim != 3 or image.shape[0] not in (1, 2, 3, 4) or min(image.shape[1:]) < 1:
        raise ValueError(
            f"expected an image shaped (H, W), (H, W, C) for numpy or (C, H, W) for torch with 1–4 channels, "
            f"got shape {tuple(image.shape)}"
        )
    if image.dtype == torch.bool:
        return image.float()
    if image.dtype == torch.uint16:
        return image.float() / 65535.0
    if not image.is_floating_point():
        if image.numel() and (image.min() < 0 or image.max() > 255):
            raise ValueError(
                f"an integer image with values {image.min().item()}..{image.max().item()} outside 0–255; pass uint16 "
                "for 16-bit images, or floats in [0, 1]"
            )
        return image.float() / 255.0
    image = image.float()
    if image.numel() and (not torch.isfinite(image).all() or image.min() < 0 or image.max() > 1):
        raise ValueError(
            f"a floating-point image with values {image.min().item():g}..{image.max().item():g} (or NaN); floats are "
            "read as 0–1, so scale it to [0, 1] (or pass uint8 / uint16 integers)"
        )
    return image


def to_channels(image: torch.Tensor, num_channels: int) -> torch.Tensor:
    """Composite alpha onto white, then gray → RGB (or RGB → luminance when the model takes 1 channel)."""
    if image.shape[0] in (2, 4):
        color, alpha = image[:-1], image[-1:]
        image = color * alpha + (1.0 - alpha)
    if image.shape[0] == num_channels:
        return image
    if image.shape[0] == 1:
        return image.expand(num_channels, -1, -1)
    if num_channels == 1:
        return (image * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(0, keepdim=True)
    raise ValueError(f"cannot convert a {image.shape[0]}-channel image to {num_channels} channels")


def _resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(image[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]


class ImageJepaImageProcessor(BaseImageProcessor):
    """Crops, resizes and normalises images for `ImageJepaModel` (a transformers image processor).

    `train=True`: RandomResizedCrop (area share in `crop_scale`, aspect ratio log-uniform in `crop_ratio`,
    10 tries then a centre crop), as the paper's pretraining. `train=False` (the default, and what the
    `image-feature-extraction` pipeline gets): resize the shorter side to `image_size / eval_crop_ratio`, then
    centre-crop `image_size`. Every setting is a plain attribute, saved in `preprocessor_config.json`.
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 16,
        num_channels: int = 3,
        crop_scale: Sequence[float] = (0.3, 1.0),
        crop_ratio: Sequence[float] = (3 / 4, 4 / 3),
        eval_crop_ratio: float = 0.875,
        image_mean: Sequence[float] = (0.485, 0.456, 0.406),
        image_std: Sequence[float] = (0.229, 0.224, 0.225),
        **kwargs,
    ):
        kwargs.pop("image_processor_type", None)
        super().__init__(**kwargs)
        if image_size % patch_size:
            raise ValueError(
                f"image_size {image_size} is not divisible by patch_size {patch_size}; pick a multiple of the patch"
            )
        if num_channels not in (1, 3):
            raise ValueError(f"num_channels must be 1 or 3 for images, got {num_channels}")
        if not 0 < crop_scale[0] <= crop_scale[1] <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < min <= max <= 1, got {tuple(crop_scale)}")
        if len(image_mean) != num_channels or len(image_std) != num_channels:
            raise ValueError(f"image_mean and image_std need {num_channels} values")
        self.image_size, self.patch_size, self.num_channels = int(image_size), int(patch_size), int(num_channels)
        self.crop_scale, self.crop_ratio = tuple(map(float, crop_scale)), tuple(map(float, crop_ratio))
        self.eval_crop_ratio = float(eval_crop_ratio)
        self.image_mean, self.image_std = [float(v) for v in image_mean], [float(v) for v in image_std]

    @property
    def mean(self) -> torch.Tensor:
        return torch.tensor(self.image_mean, dtype=torch.float32)[:, None, None]

    @property
    def std(self) -> torch.Tensor:
        return torch.tensor(self.image_std, dtype=torch.float32)[:, None, None]

    @classmethod
    def from_config(cls, config: ImageJepaConfig) -> "ImageJepaImageProcessor":
        return cls(
            config.image_size, config.patch_size, config.num_channels, config.crop_scale,
            eval_crop_ratio=config.eval_crop_ratio, image_mean=config.image_mean, image_std=config.image_std,
        )  # fmt: skip

    def crop_box(self, height: int, width: int, generator: torch.Generator | None = None) -> tuple[int, ...]:
        """(top, left, h, w) of a random crop covering a `crop_scale` share of the area."""
        area = height * width
        log_ratio = (math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1]))
        for _ in range(10):
            u_scale, u_ratio = torch.rand(2, generator=generator).tolist()
            target_area = area * (self.crop_scale[0] + u_scale * (self.crop_scale[1] - self.crop_scale[0]))
            ratio = math.exp(log_ratio[0] + u_ratio * (log_ratio[1] - log_ratio[0]))
            w, h = round(math.sqrt(target_area * ratio)), round(math.sqrt(target_area / ratio))
            if 0 < w <= width and 0 < h <= height:
                top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
                left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
                return top, left, h, w
        side = min(height, width)
        return (height - side) // 2, (width - side) // 2, side, side

    def transform(self, image: ImageInput, train: bool = False, generator: torch.Generator | None = None):
        """One image → normalised (C, image_size, image_size) float tensor."""
        pixels = to_channels(to_float_chw(image), self.num_channels)
        height, width = pixels.shape[1:]
        size = self.image_size
        if train:
            top, left, h, w = self.crop_box(height, width, generator)
            pixels = _resize(pixels[:, top : top + h, left : left + w], (size, size))
        else:
            short = max(size, round(size / self.eval_crop_ratio))
            scale = short / min(height, width)
            pixels = _resize(pixels, (max(short, round(height * scale)), max(short, round(width * scale))))
            top, left = (pixels.shape[1] - size) // 2, (pixels.shape[2] - size) // 2
            pixels = pixels[:, top : top + size, left : left + size]
        return (pixels - self.mean) / self.std

    def preprocess(
        self,
        images: ImageInput | Sequence[ImageInput],
        train: bool = False,
        generator: torch.Generator | None = None,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """One image or a list → `BatchFeature({"pixel_values": (B, C, image_size, image_size)})`.

        `return_tensors`: "pt" (default), "np" or None (a torch tensor as well)."""
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}; this processor takes train= and generator=")
        single = isinstance(images, str | Path | Image.Image) or (
            isinstance(images, np.ndarray | torch.Tensor) and images.ndim <= 3
        )
        batch = [images] if single else list(images)
        if not batch:
            raise ValueError("no images given")
        pixels = torch.stack([self.transform(image, train, generator) for image in batch])
        if return_tensors == "np":
            return BatchFeature({"pixel_values": pixels.numpy()}, tensor_type="np")
        return BatchFeature({"pixel_values": pixels})

    def __call__(self, images, *args, **kwargs) -> BatchFeature:
        return self.preprocess(images, *args, **kwargs)
