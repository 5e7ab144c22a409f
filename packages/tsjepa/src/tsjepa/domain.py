"""The `tsjepa` domain plugin for the `jepa` command."""

from jepa_core.domain import Domain

from .configuration_tsjepa import TimeSeriesJepaConfig
from .data import default_dataset, load_dataset
from .evaluation import evaluate
from .masking_tsjepa import FutureWindowCollator
from .modeling_tsjepa import TimeSeriesJepaForPreTraining, TimeSeriesJepaModel

DOMAIN = Domain(
    name="tsjepa",
    distribution="jepa-tsjepa",
    import_name="tsjepa",
    description="TS-JEPA: sensor-window JEPA with an action-conditioned predictor and a semantic actor",
    paper_url="https://arxiv.org/abs/2406.04853",
    config_class=TimeSeriesJepaConfig,
    model_class=TimeSeriesJepaModel,
    pretraining_class=TimeSeriesJepaForPreTraining,
    default_dataset=default_dataset,
    load_dataset=load_dataset,
    collator=FutureWindowCollator.from_config,
    evaluate=evaluate,
    datasets=("simulated parallel inverted cart-poles (embedded)",),
)
