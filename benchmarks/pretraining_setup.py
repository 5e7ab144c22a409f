"""A domain's pretraining model, training data, collator and config, built as `jepa pretrain` builds them."""


def build_pretraining(name: str, preset: str, settings: list[str], flags: dict | None = None, dataset=None) -> tuple:
    """(model, dataset, collator, config) for `jepa pretrain NAME --preset PRESET --set SETTING ...` and its named
    flags; `dataset`: the embedded training data already loaded (it is loaded otherwise). Heavy imports happen here,
    so that a caller can set up Python's bytecode cache first."""
    import torch
    from jepa_core.cli import build_config
    from jepa_core.domain import get_domain
    from transformers import AutoModelForPreTraining

    domain = get_domain(name)
    config = build_config(domain, preset, settings, flags)
    dataset = dataset if dataset is not None else domain.default_dataset("train", config, None)
    if domain.adapt_config is not None:
        config = domain.adapt_config(config, dataset)
    torch.manual_seed(0)
    model = AutoModelForPreTraining.from_config(config).train()
    if domain.prepare_model is not None:
        domain.prepare_model(model, dataset)
    return model, dataset, domain.collator(config, 0), config
