"""The `ajepa` domain plugin for the `jepa` command."""

from jepa_core.domain import Domain
from jepa_core.overrides import config_fields

from . import data
from .configuration_ajepa import AudioJepaConfig
from .masking_ajepa import AudioJepaMaskCollator
from .modeling_ajepa import AudioJepaForPreTraining, AudioJepaModel
from .processor_ajepa import AudioJepaProcessor

EXAMPLE_INPUT = """\
waveform = np.sin(2 * np.pi * 440 * np.arange(32000) / 16000).astype(np.float32)  # 2 s of A4 at 16 kHz
inputs = processor(waveform, sampling_rate=16000, return_tensors="pt")  # or a file path, or a list of clips
"""


def adapt_config(config: AudioJepaConfig, dataset) -> AudioJepaConfig:
    """The config to build with the training data: the fbank statistics its processor fitted (user data), so
    that the saved config and `preprocessor_config.json` agree."""
    processor = dataset.processor
    if (processor.fbank_mean, processor.fbank_std) == (config.fbank_mean, config.fbank_std):
        return config
    values = {**config.to_dict(), "fbank_mean": processor.fbank_mean, "fbank_std": processor.fbank_std}
    return type(config)(**{k: v for k, v in values.items() if k in config_fields(type(config))})


DOMAIN = Domain(
    name="ajepa",
    distribution="jepa-ajepa",
    import_name="ajepa",
    description="A-JEPA: audio log-mel spectrograms, curriculum from multi-block to time-frequency masks",
    paper_url="https://arxiv.org/abs/2311.15830",
    config_class=AudioJepaConfig,
    model_class=AudioJepaModel,
    pretraining_class=AudioJepaForPreTraining,
    processor_class=AudioJepaProcessor,
    default_dataset=data.default_dataset,
    load_dataset=data.load_dataset,
    stream_format=data.stream_format,
    collator=AudioJepaMaskCollator,
    headline_metric="linear_probe_accuracy",
    example_input=EXAMPLE_INPUT,
    adapt_config=adapt_config,
    embedded_data="synthesized clips of 8 sound classes (tones, chords, chirps, noises, click trains)",
)
