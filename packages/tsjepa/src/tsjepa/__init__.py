"""TS-JEPA on jepa-core: `TimeSeriesJepaConfig`, `TimeSeriesJepaModel` (window encoder + latent predictor),
`TimeSeriesJepaForPreTraining`, `TimeSeriesJepaProcessor`, `SemanticActor`, `FutureWindowCollator`, the cart-pole
simulator and the uplink."""

from jepa_core.modeling_utils import register_auto_classes
from jepa_core.processing import register_processor

from .configuration_tsjepa import TimeSeriesJepaConfig
from .masking_tsjepa import FutureWindowCollator
from .modeling_tsjepa import SemanticActor, TimeSeriesJepaForPreTraining, TimeSeriesJepaModel
from .processor_tsjepa import TimeSeriesJepaProcessor

register_auto_classes(TimeSeriesJepaConfig, TimeSeriesJepaModel, TimeSeriesJepaForPreTraining)
register_processor(TimeSeriesJepaConfig, TimeSeriesJepaProcessor)

__all__ = [
    "FutureWindowCollator",
    "SemanticActor",
    "TimeSeriesJepaConfig",
    "TimeSeriesJepaForPreTraining",
    "TimeSeriesJepaModel",
    "TimeSeriesJepaProcessor",
]
