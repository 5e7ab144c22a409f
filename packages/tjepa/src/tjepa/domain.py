"""The `tjepa` domain plugin for the `jepa` command.

Evaluation is the core's: the frozen encoder embeds the train and test rows as `config.probe_pool` pools them
(default "flatten": the [REG] and feature tokens concatenated, the paper's representation), then a linear probe
(and a k-NN probe for classes) is fit on train and scored on test; `linear_probe_accuracy` is the headline.
"""

import copy

import torch
from jepa_core.domain import Domain
from jepa_core.evaluation.contract import Embedded
from jepa_core.overrides import ConfigFieldError

from .configuration_tjepa import TabularJepaConfig
from .data import TabularDataset, default_dataset, load_dataset, stream_format
from .masking_tjepa import MODEL_INPUTS, TabularJepaMaskCollator
from .modeling_tjepa import TabularJepaForPreTraining, TabularJepaModel
from .processor_tjepa import TabularJepaProcessor


def embed(encoder: TabularJepaModel, dataset: TabularDataset) -> Embedded:
    """Frozen row embeddings pooled as `config.probe_pool`, with the target column as labels."""
    tensors = dataset.tensors
    features = encoder.embed(tensors["numerical_features"], tensors["categorical_features"])
    labels = dataset.labels
    return Embedded(features, None if labels is None else labels.numpy(), list(dataset.ids))


def encoder_inputs(samples: list[dict], config: TabularJepaConfig) -> dict[str, torch.Tensor]:
    return {name: torch.stack([torch.as_tensor(s[name]) for s in samples]) for name in MODEL_INPUTS}


def adapt_config(config: TabularJepaConfig, dataset: TabularDataset) -> TabularJepaConfig:
    """The config sized for the training table (`num_numerical_features`, `categorical_cardinalities`), with what
    the processor found recorded (`target_column`, `task`, `id_columns`).

    Schema fields left at their defaults are filled from the fitted processor; a value set by hand that
    disagrees with the table is a `ConfigFieldError` naming the right value."""
    processor = dataset.processor
    schema = processor.config_overrides()
    defaults = type(config)()
    for field, value in schema.items():
        if getattr(config, field) not in (value, getattr(defaults, field)):
            raise ConfigFieldError(
                f"the config has {field}={getattr(config, field)} but the training table gives {value}", field, value
            )
    found = {
        **schema,
        "target_column": processor.target_column,
        "task": processor.task if processor.target_column is not None else config.task,
        "id_columns": processor.id_columns,
    }
    if all(getattr(config, k) == v for k, v in found.items()):
        return config
    adapted = copy.deepcopy(config)
    for field, value in found.items():
        setattr(adapted, field, value)
    return adapted


EXAMPLE_INPUT = """\
row = {column: 0.0 for column in processor.numerical_columns}  # one row of the table, by column name
row.update({column: processor.categories[column][0] for column in processor.categorical_columns})
inputs = processor(row, return_tensors="pt")
"""

DOMAIN = Domain(
    name="tjepa",
    distribution="jepa-tjepa",
    import_name="tjepa",
    description="T-JEPA: tabular JEPA over feature subsets, with [REG] tokens",
    paper_url="https://arxiv.org/abs/2410.05016",
    config_class=TabularJepaConfig,
    model_class=TabularJepaModel,
    pretraining_class=TabularJepaForPreTraining,
    processor_class=TabularJepaProcessor,
    default_dataset=default_dataset,
    load_dataset=load_dataset,
    stream_format=stream_format,
    collator=TabularJepaMaskCollator.from_config,
    headline_metric="linear_probe_accuracy",
    example_input=EXAMPLE_INPUT,
    embed=embed,
    encoder_inputs=encoder_inputs,
    adapt_config=adapt_config,
    embedded_data="scikit-learn's breast_cancer table (569 rows, 30 numerical columns, binary target; 80/20 split)",
)
