"""The `sar-jepa` domain plugin for the `jepa` command."""

from jepa_core.domain import Domain

from . import data
from .configuration_sar_jepa import SarJepaConfig
from .masking_sar_jepa import SarJepaMaskCollator
from .modeling_sar_jepa import SarJepaForPreTraining, SarJepaModel
from .processor_sar_jepa import SarJepaProcessor

EXAMPLE_INPUT = """\
chip = np.random.default_rng(0).gamma(4.0, 0.25, size=(processor.image_size, processor.image_size))  # intensity
inputs = processor(chip, return_tensors="pt")  # {"pixel_values": (1, 1, S, S)}: amplitude / clip_value in [0, 1]
"""

DOMAIN = Domain(
    name="sar-jepa",
    distribution="jepa-sar",
    import_name="sar_jepa",
    description="SAR-JEPA: SAR chips, local-window masking, predicting multi-scale gradient-by-ratio features",
    paper_url="https://arxiv.org/abs/2311.15153",
    config_class=SarJepaConfig,
    model_class=SarJepaModel,
    pretraining_class=SarJepaForPreTraining,
    processor_class=SarJepaProcessor,
    default_dataset=data.default_dataset,
    load_dataset=data.load_dataset,
    collator=SarJepaMaskCollator,
    headline_metric="finetune_40_shot_accuracy",
    example_input=EXAMPLE_INPUT,
    embed=data.embed_chips,
    extra_metrics=data.extra_metrics,
    embedded_data="MSTAR-like vehicle target chips (4 classes) on speckled real-texture clutter, read from GeoTIFF",
    license="apache-2.0",
)
