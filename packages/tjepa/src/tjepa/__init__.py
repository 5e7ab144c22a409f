"""T-JEPA on jepa-core: `TabularJepaConfig`, `TabularJepaModel` (the encoder), `TabularJepaForPreTraining`,
`TabularJepaMaskCollator` (feature-subset masks) and `TabularJepaProcessor` (fitted table preprocessing, a
transformers feature extractor saved as `preprocessor_config.json`)."""

from jepa_core.modeling_utils import register_auto_classes
from jepa_core.processing import register_processor

from .configuration_tjepa import TabularJepaConfig
from .masking_tjepa import TabularJepaMaskCollator
from .modeling_tjepa import TabularJepaForPreTraining, TabularJepaModel
from .processor_tjepa import TabularJepaProcessor

register_auto_classes(TabularJepaConfig, TabularJepaModel, TabularJepaForPreTraining)
register_processor(TabularJepaConfig, TabularJepaProcessor)

__all__ = [
    "TabularJepaConfig",
    "TabularJepaForPreTraining",
    "TabularJepaMaskCollator",
    "TabularJepaModel",
    "TabularJepaProcessor",
]
