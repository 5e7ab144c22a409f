"""I-JEPA on jepa-core: `ImageJepaConfig`, `ImageJepaModel` (the encoder), `ImageJepaForPreTraining`."""

from jepa_core.modeling_utils import register_auto_classes

from .configuration_ijepa import ImageJepaConfig
from .masking_ijepa import ImageJepaMaskCollator
from .modeling_ijepa import ImageJepaForPreTraining, ImageJepaModel
from .processor_ijepa import ImageJepaImageProcessor

register_auto_classes(ImageJepaConfig, ImageJepaModel, ImageJepaForPreTraining)

__all__ = [
    "ImageJepaConfig",
    "ImageJepaForPreTraining",
    "ImageJepaImageProcessor",
    "ImageJepaMaskCollator",
    "ImageJepaModel",
]
