"""The `brain-jepa` domain plugin for the `jepa` command."""

from jepa_core.domain import Domain

from . import data
from .configuration_brain_jepa import BrainJepaConfig
from .masking_brain_jepa import BrainJepaMaskCollator
from .modeling_brain_jepa import BrainJepaForPreTraining, BrainJepaModel
from .processor_brain_jepa import BrainJepaProcessor

EXAMPLE_INPUT = """\
series = np.random.default_rng(0).normal(size=(processor.num_rois, processor.num_frames))  # one subject, ROIs × time
inputs = processor(series, return_tensors="pt")  # {"time_series": (1, ROIs, frames)}, robust-scaled
"""

DOMAIN = Domain(
    name="brain-jepa",
    distribution="jepa-brain",
    import_name="brain_jepa",
    description="Brain-JEPA: fMRI ROI time series, brain gradient positioning, spatiotemporal masking",
    paper_url="https://arxiv.org/abs/2409.19407",
    config_class=BrainJepaConfig,
    model_class=BrainJepaModel,
    pretraining_class=BrainJepaForPreTraining,
    processor_class=BrainJepaProcessor,
    default_dataset=data.default_dataset,
    load_dataset=data.load_dataset,
    collator=BrainJepaMaskCollator,
    headline_metric="linear_probe_accuracy",
    example_input=EXAMPLE_INPUT,
    extra_metrics=data.extra_metrics,
    embed=data.embed,
    adapt_config=data.adapt_config,
    prepare_model=data.prepare_model,
    embedded_data=(
        "a synthetic 31-ROI fMRI cohort (4 coupled networks; class = 3 timescale groups, trait = dedifferentiation)"
    ),
)
