"""TS-JEPA on jepa-core: `TimeSeriesJepaConfig`, `TimeSeriesJepaModel` (window encoder + latent predictor),
`TimeSeriesJepaForPreTraining`, `SemanticActor`, `FutureWindowCollator`, the cart-pole simulator and the uplink."""

from jepa_core.modeling_utils import register_auto_classes

from .configuration_tsjepa import TimeSeriesJepaConfig
from .masking_tsjepa import FutureWindowCollator
from .modeling_tsjepa import SemanticActor, TimeSeriesJepaForPreTraining, TimeSeriesJepaModel

register_auto_classes(TimeSeriesJepaConfig, TimeSeriesJepaModel, TimeSeriesJepaForPreTraining)

__all__ = [
    "FutureWindowCollator",
    "SemanticActor",
    "TimeSeriesJepaConfig",
    "TimeSeriesJepaForPreTraining",
    "TimeSeriesJepaModel",
]
