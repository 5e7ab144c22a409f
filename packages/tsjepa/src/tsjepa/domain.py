"""The `tsjepa` domain plugin for the `jepa` command."""

from jepa_core.domain import Domain

from .configuration_tsjepa import TimeSeriesJepaConfig
from .data import adapt_config, default_dataset, load_dataset
from .evaluation import embed, extra_metrics
from .masking_tsjepa import FutureWindowCollator
from .modeling_tsjepa import TimeSeriesJepaForPreTraining, TimeSeriesJepaModel
from .processor_tsjepa import TimeSeriesJepaProcessor

EXAMPLE_INPUT = """\
# one raw series: (channels, time) readings; the encoder embeds its last window_size steps
series = np.random.default_rng(0).normal(size=(processor.num_channels, processor.window_size))
inputs = processor(series, return_tensors="pt")"""

DOMAIN = Domain(
    name="tsjepa",
    distribution="jepa-tsjepa",
    import_name="tsjepa",
    description="TS-JEPA: sensor-window JEPA with an action-conditioned predictor and a semantic actor",
    paper_url="https://arxiv.org/abs/2406.04853",
    config_class=TimeSeriesJepaConfig,
    model_class=TimeSeriesJepaModel,
    pretraining_class=TimeSeriesJepaForPreTraining,
    processor_class=TimeSeriesJepaProcessor,
    default_dataset=default_dataset,
    load_dataset=load_dataset,
    collator=FutureWindowCollator.from_config,
    headline_metric="linear_probe_accuracy",
    example_input=EXAMPLE_INPUT,
    embed=embed,
    extra_metrics=extra_metrics,
    adapt_config=adapt_config,
    embedded_data=(
        "simulated parallel inverted cart-poles under an LQR expert with exploration noise (embedded; label = "
        "pole-length class of 4)"
    ),
)
