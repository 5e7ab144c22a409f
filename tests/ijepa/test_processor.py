"""Image processor: conversions, crops, normalisation and clear errors."""

import numpy as np
import pytest
import torch
from ijepa import ImageJepaConfig, ImageJepaImageProcessor
from PIL import Image

MEAN = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
STD = torch.tensor([0.229, 0.224, 0.225])[:, None, None]


@pytest.fixture
def processor() -> ImageJepaImageProcessor:
    return ImageJepaImageProcessor(image_size=32, patch_size=4, eval_crop_ratio=1.0)


def _denormalise(pixels: torch.Tensor) -> torch.Tensor:
    return pixels * STD + MEAN


def test_from_config_takes_the_paper_recipe():
    processor = ImageJepaImageProcessor.from_config(ImageJepaConfig())
    assert processor.image_size == 224 and processor.crop_scale == (0.3, 1.0) and processor.eval_crop_ratio == 0.875
    assert torch.allclose(processor.mean, MEAN) and torch.allclose(processor.std, STD)


def test_eval_resize_of_constant_image_gives_normalised_constant(processor):
    image = Image.new("RGB", (48, 40), (255, 0, 128))
    pixels = processor(image)["pixel_values"]
    assert pixels.shape == (1, 3, 32, 32)
    expected = (torch.tensor([1.0, 0.0, 128 / 255])[:, None, None] - MEAN) / STD
    assert torch.allclose(pixels[0], expected.expand(3, 32, 32), atol=1e-5)


def test_eval_center_crop_keeps_the_middle():
    processor = ImageJepaImageProcessor(image_size=8, patch_size=4, eval_crop_ratio=0.5)  # resize to 16, crop 8
    image = np.zeros((16, 16), dtype=np.uint8)
    image[4:12, 4:12] = 255
    pixels = _denormalise(processor(image)["pixel_values"][0])
    assert torch.allclose(pixels, torch.ones(3, 8, 8), atol=1e-5)


def test_grayscale_is_repeated_to_rgb_and_rgba_composited_on_white(processor):
    gray = processor(Image.new("L", (32, 32), 51))["pixel_values"][0]
    assert torch.allclose(_denormalise(gray), torch.full((3, 32, 32), 0.2), atol=1e-5)
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:, :16, 3] = 255  # left half opaque red, right half fully transparent
    out = _denormalise(processor(Image.fromarray(rgba, "RGBA"))["pixel_values"][0])
    assert torch.allclose(out[:, :, :14], torch.tensor([1.0, 0.0, 0.0])[:, None, None].expand(3, 32, 14), atol=1e-5)
    assert torch.allclose(out[:, :, 18:], torch.ones(3, 32, 14), atol=1e-5)


def test_numpy_float_and_torch_inputs_agree(processor):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    from_uint8 = processor(image)["pixel_values"]
    from_float = processor(image.astype(np.float32) / 255)["pixel_values"]
    from_torch = processor(torch.from_numpy(image).permute(2, 0, 1))["pixel_values"]
    from_pil = processor(Image.fromarray(image))["pixel_values"]
    for other in (from_float, from_torch, from_pil):
        assert torch.allclose(from_uint8, other, atol=1e-5)
    assert processor([image, image])["pixel_values"].shape == (2, 3, 32, 32)


def test_random_resized_crop_areas_within_scale_and_seeded():
    processor = ImageJepaImageProcessor(image_size=32, patch_size=4)
    generator = torch.Generator().manual_seed(0)
    boxes = [processor.crop_box(100, 120, generator) for _ in range(300)]
    areas = torch.tensor([h * w / (100 * 120) for _, _, h, w in boxes])
    assert areas.min() >= 0.29 and areas.max() <= 1.0 and areas.mean() > 0.5
    assert all(top >= 0 and top + h <= 100 and left >= 0 and left + w <= 120 for top, left, h, w in boxes)
    ratios = torch.tensor([w / h for _, _, h, w in boxes])
    assert ratios.min() >= 0.74 and ratios.max() <= 1.34
    image = np.random.default_rng(1).integers(0, 256, (100, 120, 3), dtype=np.uint8)
    first = processor(image, train=True, generator=torch.Generator().manual_seed(5))["pixel_values"]
    again = processor(image, train=True, generator=torch.Generator().manual_seed(5))["pixel_values"]
    assert first.shape == (1, 3, 32, 32) and torch.equal(first, again)


def test_images_smaller_than_the_crop_are_upscaled(processor):
    tiny = Image.new("RGB", (5, 7), (0, 0, 255))
    for train in (False, True):
        pixels = _denormalise(processor(tiny, train=train)["pixel_values"][0])
        assert pixels.shape == (3, 32, 32)
        assert torch.allclose(pixels, torch.tensor([0.0, 0.0, 1.0])[:, None, None].expand(3, 32, 32), atol=1e-5)


def test_bad_inputs_are_clear_errors(tmp_path, processor):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ValueError, match="not an image file"):
        processor(text)
    with pytest.raises(ValueError, match="1–4 channels"):
        processor(np.zeros((8, 8, 5), dtype=np.uint8))
    with pytest.raises(TypeError, match="PIL image"):
        processor([["not", "an", "image"]])
    with pytest.raises(ValueError, match="not divisible by patch_size"):
        ImageJepaImageProcessor(image_size=30, patch_size=4)
    with pytest.raises(ValueError, match="not divisible by patch_size"):
        ImageJepaConfig(image_size=30, patch_size=4)


def test_sixteen_bit_images_keep_their_range_and_out_of_range_values_are_refused(tmp_path):
    from ijepa.processor_ijepa import to_float_chw

    ramp = (np.arange(32 * 32).reshape(32, 32) * 64).astype(np.uint16)  # 0 … 65472
    Image.fromarray(ramp).save(tmp_path / "depth.png")  # a 16-bit grayscale PNG (mode I;16)
    for source in (tmp_path / "depth.png", ramp):
        values = to_float_chw(source)
        np.testing.assert_allclose(values[0].numpy(), ramp / 65535, atol=1e-6)  # not clipped at 255
    with pytest.raises(ValueError, match="outside 0–255"):
        to_float_chw(ramp.astype(np.int32))
    with pytest.raises(ValueError, match="scale it to"):
        to_float_chw(np.full((8, 8, 3), 2.5, dtype=np.float32))
