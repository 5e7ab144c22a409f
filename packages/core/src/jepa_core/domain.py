"""The domain plugin contract and its discovery through the `jepa.domains` entry point group.

Discovery reads entry-point metadata only; a domain package (and torch) is imported when it is used. This
module imports nothing heavy so that `jepa --help` and `jepa list` start fast.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch.utils.data import Dataset

    from .evaluation.contract import Embedded
    from .masks import MaskCollator
    from .modeling_utils import JepaConfig, JepaForPreTraining, JepaPreTrainedModel
    from .streams import StreamFormat

ENTRY_POINT_GROUP = "jepa.domains"
SPLITS = ("train", "test", "all")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Domain:
    """What a domain package tells the core and the `jepa` command.

    Data (samples are dicts of tensors; `"labels"` where known):
    - `default_dataset(split, config, processor)`: the embedded data set; `split` is "train", "test" or "all".
    - `load_dataset(path, split, config, processor)`: the same from a user's files (`--data`).
      With `processor=None` the train split fits a processor and carries it as `dataset.processor`; the other
      splits are read with the processor they are given (the train split's, or the one saved in a run).
      A data set may carry `class_names` (label index → name) and `ids` (one string per sample).
    - `stream_format(config)` (optional): how records of shard files (Parquet, Arrow, WebDataset tar) become
      training samples; with it, `jepa pretrain --data SHARDS` streams them (see `jepa_core.streams`).
    - `collator(config, seed)`: the domain's `MaskCollator`.
    - `processor_class`: a transformers processor class (`BaseImageProcessor`, `SequenceFeatureExtractor`,
      `FeatureExtractionMixin`) saved as `preprocessor_config.json` in every run folder.
    Evaluation (the core loads the splits, checks them, runs the probes; see `jepa_core.evaluation.contract`):
    - `embed(encoder, dataset)` (optional): `Embedded` features pooled as the domain's probe pools them;
      default: `encoder_inputs` batches → mean over the non-prefix tokens.
    - `encoder_inputs(samples, config)` (optional): encoder keyword tensors for a list of samples; default:
      the samples' `encoder.main_input_name` tensors stacked.
    - `extra_metrics(encoder, train, test)` (optional): the paper's own protocol (few-shot fine-tuning,
      retrieval, control …) on the already loaded splits.
    - `headline_metric`: the metric the demo and the card lead with.
    - `example_input`: Python source that makes `inputs` from one raw input with `processor` (`np` is numpy);
      the card's usage snippet runs it.
    - `embedded_data`: what the embedded data set is, in words (for the card).
    Model building:
    - `adapt_config(config, dataset)` (optional): the config to build the model with, given the training data.
    - `prepare_model(model, dataset)` (optional): model state computed from the training data (e.g. gradients).
    """

    name: str
    distribution: str
    import_name: str
    description: str
    paper_url: str
    config_class: type[JepaConfig]
    model_class: type[JepaPreTrainedModel]
    pretraining_class: type[JepaForPreTraining]
    processor_class: type
    default_dataset: Callable[..., Dataset]
    load_dataset: Callable[..., Dataset]
    collator: Callable[[JepaConfig, int], MaskCollator]
    headline_metric: str
    example_input: str
    embed: Callable[[JepaPreTrainedModel, Dataset], Embedded] | None = None
    encoder_inputs: Callable[[list[dict], JepaConfig], dict[str, torch.Tensor]] | None = None
    extra_metrics: Callable[[JepaPreTrainedModel, Dataset, Dataset], dict[str, float]] | None = None
    adapt_config: Callable[[JepaConfig, Dataset], JepaConfig] | None = None
    prepare_model: Callable[[JepaForPreTraining, Dataset], None] | None = None
    stream_format: Callable[[JepaConfig], StreamFormat] | None = None
    config_classes: tuple[type[JepaConfig], ...] = ()
    embedded_data: str = "the package's embedded data set"
    license: str = "apache-2.0"

    @property
    def presets(self) -> list[str]:
        return list(self.config_class.presets)

    @property
    def model_types(self) -> tuple[str, ...]:
        """Every `model_type` this domain saves (its main config's and any other architecture's)."""
        return tuple(c.model_type for c in (self.config_class, *self.config_classes))

    def config_class_for(self, preset: str) -> type[JepaConfig]:
        """The config class that defines `preset` (a domain with two architectures has two config classes)."""
        for config_class in (self.config_class, *self.config_classes):
            if preset in config_class.presets:
                return config_class
        names = ", ".join(p for c in (self.config_class, *self.config_classes) for p in c.presets)
        raise ValueError(f"unknown preset {preset!r} for the {self.name} domain; choose --preset from: {names}")

    def batch_inputs(self, samples: list[dict], config: JepaConfig) -> dict[str, Any]:
        """Encoder keyword tensors for `samples` (the domain's `encoder_inputs`, or its main input stacked)."""
        if self.encoder_inputs is not None:
            return self.encoder_inputs(samples, config)
        import torch

        key = self.model_class.main_input_name
        return {key: torch.stack([torch.as_tensor(s[key]) for s in samples])}


@dataclass(frozen=True)
class InstalledDomain:
    """A domain as its entry point declares it, read without importing the package."""

    name: str
    distribution: str
    version: str
    summary: str
    entry_point: EntryPoint

    def load(self) -> Domain:
        return self.entry_point.load()


_registered: dict[str, Domain] = {}


def register_domain(domain: Domain) -> None:
    """Make a domain known in this process without an entry point (tests, notebooks)."""
    _registered[domain.name] = domain


def installed_domains() -> dict[str, InstalledDomain]:
    """Installed domains by name, from entry-point metadata only (nothing is imported)."""
    found = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        dist = entry.dist
        found[entry.name] = InstalledDomain(
            entry.name,
            dist.name if dist else "?",
            dist.version if dist else "?",
            (dist.metadata.get("Summary") or "") if dist else "",
            entry,
        )
    return found


def _load(entry: InstalledDomain) -> Domain | None:
    try:
        return entry.load()
    except Exception as error:  # a broken plugin must not take the other domains down
        logger.warning("the JEPA domain %r could not be loaded (%s: %s)", entry.name, type(error).__name__, error)
        return None


def available_domains() -> dict[str, Domain]:
    """Every installed domain, loaded (imports each package), plus those registered in-process."""
    loaded = {name: _load(entry) for name, entry in installed_domains().items()}
    return {**{n: d for n, d in loaded.items() if d is not None}, **_registered}


def install_hint(name: str) -> str:
    short = name.removesuffix("-jepa").removeprefix("jepa_").replace("_", "-")
    return f"pip install jepa-{short}"


def get_domain(name: str) -> Domain:
    """The domain called `name`; only its package is imported."""
    if name in _registered:
        return _registered[name]
    installed = installed_domains()
    if name not in installed:
        names = ", ".join(sorted({*installed, *_registered})) or "none"
        raise LookupError(
            f"no installed package provides the JEPA domain {name!r} (installed: {names}). "
            f"Install it with `{install_hint(name)}`."
        )
    return installed[name].load()


def _normalized(name: str) -> str:
    return name.lower().replace("-", "_")


def domain_for_model_type(model_type: str) -> Domain:
    """The installed domain that saves `model_type`, imported (which registers its Auto classes).

    Tries the package whose distribution name matches the model type first (`jepa_ecg…` → `jepa-ecg`), so
    opening a folder imports one domain, not all of them.
    """
    for domain in _registered.values():
        if model_type in domain.model_types:
            return domain
    installed = installed_domains()
    ordered = sorted(
        installed.values(),
        key=lambda e: -len(_normalized(e.distribution)) if model_type.startswith(_normalized(e.distribution)) else 0,
    )
    for entry in ordered:
        domain = _load(entry)
        if domain is not None and model_type in domain.model_types:
            importlib.import_module(domain.import_name)
            return domain
    raise LookupError(
        f"no installed JEPA domain handles model type {model_type!r}; install the package that made it "
        f"(`pip install jepa-{model_type.removeprefix('jepa_').split('_')[0]}`) and try again"
    )
