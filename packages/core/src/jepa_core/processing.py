"""Domain processors as transformers processor classes: registration with the Auto classes, loading from runs.

A domain's processor subclasses `BaseImageProcessor` (images, SAR) or `FeatureExtractionMixin` /
`SequenceFeatureExtractor` (audio, ECG, fMRI, tables, time series, stems). Its fitted state (scaling statistics,
vocabularies, …) lives in its attributes, which transformers saves as `preprocessor_config.json` (plain JSON:
numpy arrays become lists, so `__init__` turns them back into arrays). Nothing is pickled.
"""

import json
from pathlib import Path

from transformers import AutoFeatureExtractor, AutoImageProcessor
from transformers.feature_extraction_utils import FeatureExtractionMixin
from transformers.image_processing_utils import BaseImageProcessor

PROCESSOR_FILE = "preprocessor_config.json"


def register_processor(config_class: type, processor_class: type) -> None:
    """Register `processor_class` for `config_class` with AutoImageProcessor or AutoFeatureExtractor (and so
    AutoProcessor, which falls back to them)."""
    if issubclass(processor_class, BaseImageProcessor):
        classes = {"pil": processor_class, "torchvision": processor_class}
        AutoImageProcessor.register(config_class, image_processor_classes=classes, exist_ok=True)
    elif issubclass(processor_class, FeatureExtractionMixin):
        AutoFeatureExtractor.register(config_class, processor_class, exist_ok=True)
    else:
        raise TypeError(
            f"{processor_class.__name__} must subclass transformers' BaseImageProcessor or FeatureExtractionMixin"
        )


def load_processor(folder: str | Path, processor_class: type):
    """The processor saved in a run folder, or None when the folder has none.

    A file written by another processor class is a clear error rather than a silent mismatch.
    """
    path = Path(folder) / PROCESSOR_FILE
    if not path.is_file():
        return None
    values = json.loads(path.read_text())
    found = values.get("image_processor_type") or values.get("feature_extractor_type")
    if found is not None and found != processor_class.__name__:
        raise ValueError(f"{path} was written by {found}, not {processor_class.__name__}; load it with its package")
    return processor_class.from_pretrained(folder)
