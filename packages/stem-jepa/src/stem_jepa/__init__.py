"""Stem-JEPA (Riou et al., ISMIR 2024): musical stem compatibility with an instrument-conditioned predictor."""

from jepa_core.modeling_utils import register_auto_classes
from jepa_core.processing import register_processor

from .configuration_stem_jepa import StemJepaConfig
from .masking_stem_jepa import StemViewCollator
from .modeling_stem_jepa import StemJepaForPreTraining, StemJepaModel
from .processor_stem_jepa import StemJepaProcessor
from .retrieval import rank_stems, stem_retrieval

register_auto_classes(StemJepaConfig, StemJepaModel, StemJepaForPreTraining)
register_processor(StemJepaConfig, StemJepaProcessor)

__all__ = [
    "StemJepaConfig",
    "StemJepaForPreTraining",
    "StemJepaModel",
    "StemJepaProcessor",
    "StemViewCollator",
    "rank_stems",
    "register_auto_classes",
    "stem_retrieval",
]
