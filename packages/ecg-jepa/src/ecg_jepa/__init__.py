"""ECG-JEPA (Weimann & Conrad, arXiv 2410.13867): JEPA pretraining of ViTs on 12-lead ECG."""

from jepa_core.modeling_utils import register_auto_classes
from transformers import AutoModelForSequenceClassification

from .configuration_ecg_jepa import STANDARD_LEADS, EcgJepaConfig
from .masking_ecg_jepa import EcgMaskCollator, sample_time_mask
from .modeling_ecg_jepa import EcgJepaForPreTraining, EcgJepaForSequenceClassification, EcgJepaModel
from .processor_ecg_jepa import EcgJepaProcessor, EcgSignalError

register_auto_classes(EcgJepaConfig, EcgJepaModel, EcgJepaForPreTraining)
AutoModelForSequenceClassification.register(EcgJepaConfig, EcgJepaForSequenceClassification, exist_ok=True)

__all__ = [
    "STANDARD_LEADS",
    "EcgJepaConfig",
    "EcgJepaForPreTraining",
    "EcgJepaForSequenceClassification",
    "EcgJepaModel",
    "EcgJepaProcessor",
    "EcgMaskCollator",
    "EcgSignalError",
    "sample_time_mask",
]
