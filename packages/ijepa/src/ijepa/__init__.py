"""I-JEPA on jepa-core: `ImageJepaConfig`, `ImageJepaModel` (the encoder), `ImageJepaForPreTraining`, and
`ImageJepaImageProcessor` (a transformers image processor, registered with AutoImageProcessor)."""

from jepa_core.modeling_utils import register_auto_classes
from jepa_core.processing import register_processor

from .configuration_ijepa import ImageJepaConfig
from .masking_ijepa import ImageJepaMaskCollator
from .modeling_ijepa import ImageJepaForPreTraining, ImageJepaModel
from .processor_ijepa import ImageJepaImageProcessor

register_auto_classes(ImageJepaConfig, ImageJepaModel, ImageJepaForPreTraining)
register_processor(ImageJepaConfig, ImageJepaImageProcessor)

__all__ = [
    "ImageJepaConfig",
    "ImageJepaForPreTraining",
    "ImageJepaImageProcessor",
    "ImageJepaMaskCollator",
    "ImageJepaModel",
]
