"""The `brain-jepa` domain plugin for the `jepa` command."""

from jepa_core.domain import Domain

from . import data
from .configuration_brain_jepa import BrainJepaConfig
from .masking_brain_jepa import BrainJepaMaskCollator
from .modeling_brain_jepa import BrainJepaForPreTraining, BrainJepaModel

DOMAIN = Domain(
    name="brain-jepa",
    distribution="jepa-brain",
    import_name="brain_jepa",
    description="Brain-JEPA: fMRI ROI time series, brain gradient positioning, spatiotemporal masking",
    paper_url="https://arxiv.org/abs/2409.19407",
    config_class=BrainJepaConfig,
    model_class=BrainJepaModel,
    pretraining_class=BrainJepaForPreTraining,
    default_dataset=data.default_dataset,
    load_dataset=data.load_dataset,
    collator=BrainJepaMaskCollator,
    evaluate=data.evaluate,
    datasets=(
        "synthetic 31-ROI cohort: 4 coupled networks, 3 timescale groups, a connectivity trait (embedded)",
        "ROI time series .npy/.csv/.tsv/.mat",
    ),
)
