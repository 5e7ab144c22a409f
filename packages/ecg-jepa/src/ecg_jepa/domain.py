"""The `ecg-jepa` plugin for the `jepa` command: two architectures (12-lead fused tokens, `EcgJepaConfig`; Kim et
al.'s per-lead tokens, `EcgJepaPerLeadConfig`), one processor, one data pipeline, one evaluation."""

from jepa_core.domain import Domain
from jepa_core.overrides import ConfigFieldError

from .configuration_ecg_jepa import STANDARD_LEADS, EcgConfigBase, EcgJepaConfig, EcgJepaPerLeadConfig
from .data import load_dataset, simulated_dataset, stream_format
from .evaluation import embed, extra_metrics
from .masking_ecg_jepa import EcgMaskCollator
from .modeling_ecg_jepa import EcgJepaForPreTraining, EcgJepaModel
from .processor_ecg_jepa import EcgJepaProcessor


def adapt_config(config: EcgConfigBase, dataset) -> EcgConfigBase:
    """The config to build for the training data: its leads (`num_leads`, `lead_names`) are those the training
    files give (`data.choose_leads`), as the fitted processor holds them (a stream of shards has only that)."""
    processor = getattr(dataset, "processor", None)
    leads = None if processor is None else processor.lead_names
    if leads is None or list(leads) == list(config.lead_names):
        return config
    values = {**config.to_dict(), "num_leads": len(leads), "lead_names": list(leads)}
    values = {k: v for k, v in values.items() if k in type(config).__dataclass_fields__}
    try:
        return type(config)(**values)
    except Exception as error:  # e.g. the per-lead positions need standard lead names
        raise ConfigFieldError(
            f"the training files' leads {list(leads)} do not fit this model ({error}); name the files' leads with "
            "standard names",
            "input_lead_names",
            "II" if len(leads) == 1 else ",".join(STANDARD_LEADS[: len(leads)]),
        ) from error


def collator(config: EcgConfigBase, seed: int = 0) -> EcgMaskCollator:
    return EcgMaskCollator.from_config(config, seed)


EXAMPLE_INPUT = """\
signal = np.random.default_rng(0).normal(size=(12, 1000))  # 12 leads, 2 s at 500 Hz, in mV
leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
inputs = processor(signal, sampling_rate=500, lead_names=leads, return_tensors="pt")"""

DOMAIN = Domain(
    name="ecg-jepa",
    distribution="jepa-ecg",
    import_name="ecg_jepa",
    description="12-lead ECG, fused-lead time patches, time masking (Weimann & Conrad); per-lead variant (Kim et al.)",
    paper_url="https://arxiv.org/abs/2410.13867",
    config_class=EcgJepaConfig,
    config_classes=(EcgJepaPerLeadConfig,),
    model_class=EcgJepaModel,
    pretraining_class=EcgJepaForPreTraining,  # the CLI builds either architecture with AutoModelForPreTraining
    processor_class=EcgJepaProcessor,
    default_dataset=simulated_dataset,
    load_dataset=load_dataset,
    stream_format=stream_format,
    collator=collator,
    embed=embed,
    extra_metrics=extra_metrics,
    adapt_config=adapt_config,
    headline_metric="probe_macro_auc",  # the crop-level probe of the README table (evaluation.extra_metrics)
    example_input=EXAMPLE_INPUT,
    embedded_data=(
        "12-lead ECG simulated with neurokit2's ECGSYN model (10-s records, 256 train / 512 test), five multi-label "
        "rhythm targets: bradycardia, tachycardia, atrial fibrillation, premature beats, first-degree AV block"
    ),
)
