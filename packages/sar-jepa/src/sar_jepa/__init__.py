"""SAR-JEPA on jepa-core: `SarJepaConfig`, `SarJepaModel` (the encoder), `SarJepaForPreTraining`,
`SarJepaForImageClassification` (few-shot fine-tuning) and `SarJepaProcessor`."""

from jepa_core.modeling_utils import register_auto_classes
from jepa_core.processing import register_processor
from transformers import AutoModelForImageClassification

from .configuration_sar_jepa import SarJepaConfig
from .masking_sar_jepa import SarJepaMaskCollator
from .modeling_sar_jepa import SarJepaForImageClassification, SarJepaForPreTraining, SarJepaModel
from .processor_sar_jepa import SarJepaProcessor, gradient_by_ratio, multiscale_gradient_targets

register_auto_classes(SarJepaConfig, SarJepaModel, SarJepaForPreTraining)
AutoModelForImageClassification.register(SarJepaConfig, SarJepaForImageClassification, exist_ok=True)
register_processor(SarJepaConfig, SarJepaProcessor)

__all__ = [
    "SarJepaConfig",
    "SarJepaForImageClassification",
    "SarJepaForPreTraining",
    "SarJepaMaskCollator",
    "SarJepaModel",
    "SarJepaProcessor",
    "gradient_by_ratio",
    "multiscale_gradient_targets",
]
