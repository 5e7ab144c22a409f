"""The `ecg-jepa` plugin for the `jepa` command."""

from jepa_core.domain import Domain

from .configuration_ecg_jepa import EcgJepaConfig
from .data import load_dataset, simulated_dataset
from .evaluation import evaluate
from .masking_ecg_jepa import EcgMaskCollator
from .modeling_ecg_jepa import EcgJepaForPreTraining, EcgJepaModel


def collator(config: EcgJepaConfig, seed: int = 0) -> EcgMaskCollator:
    return EcgMaskCollator.from_config(config, seed)


DOMAIN = Domain(
    name="ecg-jepa",
    distribution="jepa-ecg",
    import_name="ecg_jepa",
    description="12-lead ECG, fused-lead time patches, time masking (Weimann & Conrad)",
    paper_url="https://arxiv.org/abs/2410.13867",
    config_class=EcgJepaConfig,
    model_class=EcgJepaModel,
    pretraining_class=EcgJepaForPreTraining,
    default_dataset=simulated_dataset,
    load_dataset=load_dataset,
    collator=collator,
    evaluate=evaluate,
    datasets=("PTB-XL",),
)
