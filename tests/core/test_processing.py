import json

import numpy as np
import pytest
import torch
from jepa_core.processing import PROCESSOR_FILE, load_processor, register_processor
from toy_domain import ToyConfig, ToyFeatureExtractor
from transformers import AutoFeatureExtractor, AutoProcessor


class Other(ToyFeatureExtractor):
    pass


def test_processor_state_round_trips_through_the_auto_classes(tmp_path):
    fitted = ToyFeatureExtractor.fit(torch.tensor([[1.0, 2.0, 3.0, 6.0]]))
    fitted.save_pretrained(tmp_path)
    ToyConfig().save_pretrained(tmp_path)
    saved = json.loads((tmp_path / PROCESSOR_FILE).read_text())
    assert saved["feature_extractor_type"] == "ToyFeatureExtractor" and saved["mean"] == 3.0
    signal = np.array([0.0, 1.0, 2.0, 3.0])
    for loaded in (
        AutoProcessor.from_pretrained(tmp_path),
        AutoFeatureExtractor.from_pretrained(tmp_path),
        load_processor(tmp_path, ToyFeatureExtractor),
    ):
        assert type(loaded) is ToyFeatureExtractor and (loaded.mean, loaded.std) == (fitted.mean, fitted.std)
        assert torch.equal(loaded(signal, return_tensors="pt")["input_values"], fitted(signal)["input_values"])


def test_load_processor_errors(tmp_path):
    assert load_processor(tmp_path, ToyFeatureExtractor) is None
    Other().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="written by Other, not ToyFeatureExtractor"):
        load_processor(tmp_path, ToyFeatureExtractor)
    with pytest.raises(TypeError, match="BaseImageProcessor or FeatureExtractionMixin"):
        register_processor(ToyConfig, dict)
