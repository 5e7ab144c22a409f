"""The processor through transformers' Auto classes, and transformers' `image-feature-extraction` pipeline on a
run folder (after `import ijepa`) and on its native `IJepaModel` export."""

import json

import numpy as np
import pytest
import torch
from ijepa import ImageJepaConfig, ImageJepaImageProcessor, ImageJepaModel
from ijepa.convert_ijepa import export_to_transformers
from PIL import Image
from transformers import AutoImageProcessor, AutoModel, AutoProcessor, pipeline


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder as `jepa pretrain` leaves it: the encoder and its processor."""
    folder = tmp_path_factory.mktemp("ijepa_run")
    torch.manual_seed(0)
    encoder = ImageJepaModel(ImageJepaConfig.from_preset("tiny")).eval()
    encoder.save_pretrained(folder)
    ImageJepaImageProcessor.from_config(encoder.config).save_pretrained(folder)
    return folder, encoder


def _image(height: int = 48, width: int = 40, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def test_auto_classes_load_the_processor_and_reload_gives_identical_embeddings(run):
    folder, encoder = run
    saved = json.loads((folder / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == "ImageJepaImageProcessor" and saved["image_size"] == 32
    for auto in (AutoProcessor, AutoImageProcessor):
        assert type(auto.from_pretrained(folder)) is ImageJepaImageProcessor
    processor = AutoProcessor.from_pretrained(folder)
    image = _image()
    inputs = processor(image, return_tensors="pt")
    assert set(inputs) == {"pixel_values"} and inputs["pixel_values"].shape == (1, 3, 32, 32)
    reloaded = AutoModel.from_pretrained(folder).eval()
    with torch.no_grad():
        first = reloaded(**inputs).last_hidden_state
        original = encoder(**ImageJepaImageProcessor.from_config(encoder.config)(image)).last_hidden_state
    assert torch.equal(first, original)
    assert isinstance(processor(image, return_tensors="np")["pixel_values"], np.ndarray)


def test_feature_extraction_pipeline_on_a_run_folder(run):
    folder, encoder = run
    extractor = pipeline("image-feature-extraction", model=str(folder))
    assert type(extractor.image_processor) is ImageJepaImageProcessor
    image = _image()
    features = torch.tensor(extractor(image))
    with torch.no_grad():
        expected = encoder(**ImageJepaImageProcessor.from_config(encoder.config)(image)).last_hidden_state
    assert features.shape == (1, 64, 96)
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-5)


def test_feature_extraction_pipeline_on_the_native_export(run, tmp_path):
    _, encoder = run
    export_to_transformers(encoder, tmp_path / "hf")
    saved = json.loads((tmp_path / "hf" / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == "BitImageProcessor"
    assert saved["crop_size"] == {"height": 32, "width": 32} and saved["image_std"] == [0.229, 0.224, 0.225]
    extractor = pipeline("image-feature-extraction", model=str(tmp_path / "hf"))
    assert type(extractor.model).__name__ == "IJepaModel"
    ours = ImageJepaImageProcessor.from_config(encoder.config)
    square = _image(32, 32, seed=1)  # at the model's size both processors only rescale and normalise
    features = torch.tensor(extractor(square))
    with torch.no_grad():
        expected = encoder(**ours(square)).last_hidden_state
    assert features.shape == (1, 64, 96)
    assert (features - expected).abs().max() < 1e-4
    assert torch.tensor(extractor(_image(48, 40))).shape == (1, 64, 96)  # resized and cropped to 32 px
