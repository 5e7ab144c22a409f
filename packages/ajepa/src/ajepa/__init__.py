"""A-JEPA on jepa-core: audio spectrogram JEPA with curriculum time-frequency masking (arXiv 2311.15830)."""

from jepa_core.modeling_utils import register_auto_classes
from jepa_core.processing import register_processor
from transformers import AutoModelForAudioClassification

from .configuration_ajepa import AudioJepaConfig
from .masking_ajepa import AudioJepaMaskCollator, TimeFrequencyMaskSampler
from .modeling_ajepa import AudioJepaForAudioClassification, AudioJepaForPreTraining, AudioJepaModel
from .processor_ajepa import AudioJepaProcessor

register_auto_classes(AudioJepaConfig, AudioJepaModel, AudioJepaForPreTraining)
register_processor(AudioJepaConfig, AudioJepaProcessor)
AutoModelForAudioClassification.register(AudioJepaConfig, AudioJepaForAudioClassification, exist_ok=True)

__all__ = [
    "AudioJepaConfig",
    "AudioJepaForAudioClassification",
    "AudioJepaForPreTraining",
    "AudioJepaMaskCollator",
    "AudioJepaModel",
    "AudioJepaProcessor",
    "TimeFrequencyMaskSampler",
]
