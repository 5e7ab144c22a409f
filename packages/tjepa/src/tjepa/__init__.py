"""T-JEPA on jepa-core: `TabularJepaConfig`, `TabularJepaModel` (the encoder), `TabularJepaForPreTraining`,
`TabularJepaMaskCollator` (feature-subset masks) and `TabularJepaProcessor` (fitted, saved table preprocessing)."""

from jepa_core.modeling_utils import register_auto_classes

from .configuration_tjepa import TabularJepaConfig
from .masking_tjepa import TabularJepaMaskCollator
from .modeling_tjepa import TabularJepaForPreTraining, TabularJepaModel
from .processor_tjepa import TabularJepaProcessor

register_auto_classes(TabularJepaConfig, TabularJepaModel, TabularJepaForPreTraining)

__all__ = [
    "TabularJepaConfig",
    "TabularJepaForPreTraining",
    "TabularJepaMaskCollator",
    "TabularJepaModel",
    "TabularJepaProcessor",
]
