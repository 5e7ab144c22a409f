"""Brain-JEPA on jepa-core: `BrainJepaConfig`, `BrainJepaModel` (the encoder), `BrainJepaForPreTraining`."""

from jepa_core.modeling_utils import register_auto_classes
from jepa_core.processing import register_processor
from transformers import AutoModelForSequenceClassification

from .configuration_brain_jepa import BrainJepaConfig
from .masking_brain_jepa import BrainJepaMaskCollator
from .modeling_brain_jepa import BrainJepaForPreTraining, BrainJepaForSequenceClassification, BrainJepaModel
from .processor_brain_jepa import (
    BrainJepaProcessor,
    brain_gradients,
    brain_gradients_from_timeseries,
    diffusion_map,
    functional_connectivity,
    normalized_angle_affinity,
)

register_auto_classes(BrainJepaConfig, BrainJepaModel, BrainJepaForPreTraining)
AutoModelForSequenceClassification.register(BrainJepaConfig, BrainJepaForSequenceClassification, exist_ok=True)
register_processor(BrainJepaConfig, BrainJepaProcessor)

__all__ = [
    "BrainJepaConfig",
    "BrainJepaForPreTraining",
    "BrainJepaForSequenceClassification",
    "BrainJepaMaskCollator",
    "BrainJepaModel",
    "BrainJepaProcessor",
    "brain_gradients",
    "brain_gradients_from_timeseries",
    "diffusion_map",
    "functional_connectivity",
    "normalized_angle_affinity",
]
