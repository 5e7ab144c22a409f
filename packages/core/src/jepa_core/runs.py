"""Run folders: open one in a fresh process (the domain is found from `config.json`), and its model card."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .domain import Domain, domain_for_model_type

METRICS_FILE = "metrics.json"


@dataclass
class Run:
    """A saved run: its domain (imported, so its Auto classes are registered), encoder and processor."""

    folder: Path
    domain: Domain
    encoder: Any
    processor: Any

    @property
    def config(self):
        return self.encoder.config


def read_model_type(folder: str | Path) -> str:
    """`model_type` from a folder's config.json, read without transformers."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{folder} has no config.json; pass a folder written by `jepa pretrain` or save_pretrained"
        )
    try:
        model_type = json.loads(path.read_text()).get("model_type")
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); the run folder is damaged") from error
    if not model_type:
        raise ValueError(f"{path} names no model_type; it was not written by a JEPA package")
    return model_type


def open_run(folder: str | Path) -> Run:
    """Import the domain that made `folder`, then load its encoder (AutoModel) and its saved processor."""
    from transformers import AutoModel

    from .processing import load_processor

    domain = domain_for_model_type(read_model_type(folder))
    encoder = AutoModel.from_pretrained(folder)
    return Run(Path(folder), domain, encoder, load_processor(folder, domain.processor_class))


def read_metrics(folder: str | Path) -> dict:
    path = Path(folder) / METRICS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def update_metrics(folder: str | Path, **sections) -> dict:
    """Merge `sections` (e.g. `evaluation={...}`) into the run's metrics.json, written atomically."""
    metrics = {**read_metrics(folder), **sections}
    path = Path(folder) / METRICS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(metrics, indent=2))
    tmp.replace(path)
    return metrics


def write_card(domain: Domain, folder: str | Path, config, repo_id: str | None = None) -> None:
    """(Re)write the run's model card from its config and metrics.json (training, data, `jepa evaluate`)."""
    from .hub import model_card, write_model_card

    metrics = read_metrics(folder)
    train = {"train_" + k: v for k, v in (metrics.get("train") or {}).items() if v is not None}
    evaluation = metrics.get("evaluation")
    results = {**train, **(evaluation or {}).get("metrics", {})}
    card = model_card(
        config,
        results,
        library_name=domain.distribution,
        import_name=domain.import_name,
        domain=domain.name,
        paper_url=domain.paper_url,
        license=domain.license,
        description=domain.description,
        repo_id=repo_id or str(folder),
        example_input=domain.example_input,
        data_description=metrics.get("data"),
        evaluation=evaluation,
    )
    write_model_card(folder, card)


def record_evaluation(domain: Domain, folder: str | Path, config, evaluation, data: str | None) -> None:
    """Keep `jepa evaluate`'s result (an `Evaluation`) in metrics.json and the card's model-index."""
    name = domain.embedded_data if data is None else Path(data).name
    update_metrics(folder, evaluation={"data": name, "headline": evaluation.headline, "metrics": evaluation.metrics})
    write_card(domain, folder, config)
