"""The `ajepa` domain plugin for the `jepa` command."""

from jepa_core.domain import Domain

from . import data
from .configuration_ajepa import AudioJepaConfig
from .masking_ajepa import AudioJepaMaskCollator
from .modeling_ajepa import AudioJepaForPreTraining, AudioJepaModel

DOMAIN = Domain(
    name="ajepa",
    distribution="jepa-ajepa",
    import_name="ajepa",
    description="A-JEPA: audio log-mel spectrograms, curriculum from multi-block to time-frequency masks",
    paper_url="https://arxiv.org/abs/2311.15830",
    config_class=AudioJepaConfig,
    model_class=AudioJepaModel,
    pretraining_class=AudioJepaForPreTraining,
    default_dataset=data.default_dataset,
    load_dataset=data.load_dataset,
    collator=AudioJepaMaskCollator,
    evaluate=data.evaluate,
    datasets=(
        "synthesized tones, chords, chirps, noises and click trains (embedded)",
        "audio folder",
        "datasets save_to_disk folder with audio + label columns",
    ),
)
