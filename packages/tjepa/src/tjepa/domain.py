"""The `tjepa` domain plugin for the `jepa` command, and its downstream evaluation."""

from pathlib import Path

from jepa_core.domain import Domain
from jepa_core.evaluation import linear_probe

from .configuration_tjepa import TabularJepaConfig
from .data import (
    DEFAULT_TABLE,
    default_dataset,
    load_dataset,
    processed_split,
    sklearn_table,
    split_table,
    table_splits,
)
from .masking_tjepa import TabularJepaMaskCollator
from .modeling_tjepa import TabularJepaForPreTraining, TabularJepaModel
from .processor_tjepa import PROCESSOR_FILE, TabularJepaProcessor


def saved_processor(encoder: TabularJepaModel) -> TabularJepaProcessor | None:
    """The processor saved next to a loaded encoder (its `processor_config.json`), if any."""
    folder = getattr(encoder.config, "_name_or_path", "") or ""
    path = Path(folder) / PROCESSOR_FILE
    return TabularJepaProcessor.from_pretrained(folder) if folder and path.is_file() else None


def evaluate(encoder: TabularJepaModel, config: TabularJepaConfig, data: str | None = None) -> dict[str, float]:
    """Linear probe on the frozen embeddings (`config.probe_pool`) of the train split, scored on the test split.

    The rows are preprocessed by the processor saved with the encoder when there is one, else by one fitted on
    the train split. Classification → `linear_probe_accuracy` first; regression → `linear_probe_r2` first.
    """
    train, test = table_splits(data) if data else split_table(sklearn_table(DEFAULT_TABLE))
    processor = saved_processor(encoder)
    train_set = processed_split(train, test, "train", encoder.config, processor)
    test_set = processed_split(train, test, "test", encoder.config, train_set.processor)
    if "labels" not in train_set.tensors or "labels" not in test_set.tensors:
        raise ValueError("evaluation needs a target column in both splits (name it 'target' or declare it)")
    task = train_set.processor.task
    embeddings = [
        encoder.embed(s.tensors["numerical_features"], s.tensors["categorical_features"], pool=config.probe_pool)
        for s in (train_set, test_set)
    ]
    scores = linear_probe(embeddings[0], train_set.tensors["labels"], embeddings[1], test_set.tensors["labels"], task)
    return {f"linear_probe_{name}": value for name, value in scores.items()}


DOMAIN = Domain(
    name="tjepa",
    distribution="jepa-tjepa",
    import_name="tjepa",
    description="T-JEPA: tabular JEPA over feature subsets, with [REG] tokens",
    paper_url="https://arxiv.org/abs/2410.05016",
    config_class=TabularJepaConfig,
    model_class=TabularJepaModel,
    pretraining_class=TabularJepaForPreTraining,
    default_dataset=default_dataset,
    load_dataset=load_dataset,
    collator=TabularJepaMaskCollator.from_config,
    evaluate=evaluate,
)
