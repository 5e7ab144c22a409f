"""The domain plugin contract and its discovery through the `jepa.domains` entry point group."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

from torch.utils.data import Dataset

from .masks import MaskCollator
from .modeling_utils import JepaConfig, JepaForPreTraining, JepaPreTrainedModel

ENTRY_POINT_GROUP = "jepa.domains"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Domain:
    """What a domain package tells the core and the `jepa` command.

    - `default_dataset(split, config)`: the embedded data set ("train" / "test"), samples are dicts of tensors.
    - `load_dataset(path, split, config)`: the same from a user's files (`--data`).
    - `collator(config, seed)`: the domain's `MaskCollator`.
    - `evaluate(encoder, config, data)`: downstream metrics of a frozen encoder on `data` (a path, or None
      for the embedded set), e.g. linear-probe accuracy; the first key is the headline metric.
    - `adapt_config(config, dataset)` (optional): the config to build the model with, given the training data
      (e.g. the number of features or regions found in the user's files).
    - `prepare_model(model, dataset)` (optional): set model state computed from the training data (e.g. brain
      gradients) before pretraining.
    A training data set may carry the `processor` fitted on it (anything with `save_pretrained(folder)`); runs
    save it next to the model.
    """

    name: str
    distribution: str
    import_name: str
    description: str
    paper_url: str
    config_class: type[JepaConfig]
    model_class: type[JepaPreTrainedModel]
    pretraining_class: type[JepaForPreTraining]
    default_dataset: Callable[[str, JepaConfig], Dataset]
    load_dataset: Callable[[str, str, JepaConfig], Dataset]
    collator: Callable[[JepaConfig, int], MaskCollator]
    evaluate: Callable[[JepaPreTrainedModel, JepaConfig, str | None], dict[str, float]]
    adapt_config: Callable[[JepaConfig, Dataset], JepaConfig] | None = None
    prepare_model: Callable[[JepaForPreTraining, Dataset], None] | None = None
    datasets: tuple[str, ...] = ()
    license: str = "apache-2.0"

    @property
    def presets(self) -> list[str]:
        return list(self.config_class.presets)


_registered: dict[str, Domain] = {}


def register_domain(domain: Domain) -> None:
    """Make a domain known in this process without an entry point (tests, notebooks)."""
    _registered[domain.name] = domain


def available_domains() -> dict[str, Domain]:
    """Installed domains by name: entry points of `jepa.domains` plus those registered in-process."""
    found = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            domain = entry.load()
        except Exception as error:  # a broken plugin must not take the other domains down
            logger.warning("the JEPA domain %r could not be loaded (%s: %s)", entry.name, type(error).__name__, error)
            continue
        found[domain.name] = domain
    return {**found, **_registered}


def install_hint(name: str) -> str:
    short = name.removesuffix("-jepa")
    return f"pip install jepa-{short}"


def get_domain(name: str) -> Domain:
    domains = available_domains()
    if name not in domains:
        installed = ", ".join(sorted(domains)) or "none"
        raise LookupError(
            f"no installed package provides the JEPA domain {name!r} (installed: {installed}). "
            f"Install it with `{install_hint(name)}`."
        )
    return domains[name]


def domain_for_model_type(model_type: str) -> Domain:
    """The installed domain whose config has `model_type` (to open a saved folder)."""
    for domain in available_domains().values():
        if domain.config_class.model_type == model_type:
            return domain
    raise LookupError(f"no installed JEPA domain handles model type {model_type!r}; install the package that made it")
