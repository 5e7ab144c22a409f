"""The `sar-jepa` domain plugin for the `jepa` command."""

from jepa_core.domain import Domain

from . import data
from .configuration_sar_jepa import SarJepaConfig
from .masking_sar_jepa import SarJepaMaskCollator
from .modeling_sar_jepa import SarJepaForPreTraining, SarJepaModel

DOMAIN = Domain(
    name="sar-jepa",
    distribution="jepa-sar",
    import_name="sar_jepa",
    description="SAR-JEPA: SAR chips, local-window masking, predicting multi-scale gradient-by-ratio features",
    paper_url="https://arxiv.org/abs/2311.15153",
    config_class=SarJepaConfig,
    model_class=SarJepaModel,
    pretraining_class=SarJepaForPreTraining,
    default_dataset=data.default_dataset,
    load_dataset=data.load_dataset,
    collator=SarJepaMaskCollator,
    evaluate=data.evaluate,
    datasets=("MSTAR-like targets on speckled real-texture clutter, GeoTIFF (embedded)", "GeoTIFF folders per class"),
    license="apache-2.0",
)
