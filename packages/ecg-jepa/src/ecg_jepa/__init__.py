"""ECG-JEPA (Weimann & Conrad, arXiv 2410.13867): JEPA pretraining of ViTs on 12-lead ECG; and Kim et al.'s per-lead
variant with cross-pattern attention (arXiv 2410.08559)."""

from jepa_core.modeling_utils import register_auto_classes
from jepa_core.processing import register_processor
from transformers import AutoModelForSequenceClassification

from .configuration_ecg_jepa import STANDARD_LEADS, EcgJepaConfig, EcgJepaPerLeadConfig
from .masking_ecg_jepa import EcgMaskCollator, sample_time_mask
from .modeling_ecg_jepa import (
    EcgJepaForPreTraining,
    EcgJepaForSequenceClassification,
    EcgJepaModel,
    EcgJepaPerLeadForPreTraining,
    EcgJepaPerLeadForSequenceClassification,
    EcgJepaPerLeadModel,
)
from .processor_ecg_jepa import EcgJepaProcessor, EcgSignalError

for _config, _model, _pretraining, _classifier in [
    (EcgJepaConfig, EcgJepaModel, EcgJepaForPreTraining, EcgJepaForSequenceClassification),
    (EcgJepaPerLeadConfig, EcgJepaPerLeadModel, EcgJepaPerLeadForPreTraining, EcgJepaPerLeadForSequenceClassification),
]:
    register_auto_classes(_config, _model, _pretraining)
    AutoModelForSequenceClassification.register(_config, _classifier, exist_ok=True)
    register_processor(_config, EcgJepaProcessor)

__all__ = [
    "STANDARD_LEADS",
    "EcgJepaConfig",
    "EcgJepaForPreTraining",
    "EcgJepaForSequenceClassification",
    "EcgJepaModel",
    "EcgJepaPerLeadConfig",
    "EcgJepaPerLeadForPreTraining",
    "EcgJepaPerLeadForSequenceClassification",
    "EcgJepaPerLeadModel",
    "EcgJepaProcessor",
    "EcgMaskCollator",
    "EcgSignalError",
    "sample_time_mask",
]
