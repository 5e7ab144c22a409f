"""Model cards and Hub publishing for JEPA checkpoints saved with ``save_pretrained``."""

import logging
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData
from transformers import PreTrainedConfig

logger = logging.getLogger(__name__)

CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

{% if description %}{{ description }}

{% endif -%}
A self-supervised **JEPA** (Joint-Embedding Predictive Architecture) encoder for **{{ domain }}** data. \
It maps an input to token embeddings (`last_hidden_state`) for feature extraction, linear/k-NN probing and \
fine-tuning; it was pre-trained without labels.

- **Model type:** `{{ model_type }}` ({{ architectures }})
- **Library:** [`{{ library_name }}`](https://pypi.org/project/{{ library_name }}/)
{%- if paper_url %}
- **Paper:** [{{ paper_url }}]({{ paper_url }})
{%- endif %}
{%- if base_model %}
- **Base model:** [{{ base_model }}](https://huggingface.co/{{ base_model }})
{%- endif %}

## Data

{% if datasets %}Pre-trained on: {% for d in datasets %}[`{{ d }}`](https://huggingface.co/datasets/{{ d }})\
{{ ", " if not loop.last }}{% endfor %}.{% elif data_description %}Pre-trained on: {{ data_description }}.\
{% else %}The pre-training data was not recorded.{% endif %}

## Evaluation

{% if metric_rows %}| Metric | Value |
|---|---|
{% for name, value in metric_rows %}| {{ name }} | {{ value }} |
{% endfor %}{% else %}No evaluation results were recorded.
{% endif %}
## Usage

```python
{{ usage }}
```

## Training

JEPA pre-training: a context encoder sees the visible part of each input and a predictor regresses the \
embeddings that {% if objective == "sigreg" %}the same encoder gives the masked part when it sees the whole input \
(no EMA copy), while SIGReg (LeJEPA) pulls the projected embeddings towards an isotropic Gaussian{% else %}a \
target encoder (an EMA copy) gives the masked part{% endif %}; the loss lives in embedding space, \
with no pixel/value reconstruction and no negatives.
{% if training_rows %}
| Setting | Value |
|---|---|
{% for name, value in training_rows %}| {{ name }} | {{ value }} |
{% endfor %}{% endif %}
### Architecture

| Hyper-parameter | Value |
|---|---|
{% for name, value in hparam_rows %}| {{ name }} | {{ value }} |
{% endfor %}"""

_BASE_CONFIG_KEYS = set(PreTrainedConfig().to_dict())

GENERIC_EXAMPLE = "inputs = {}  # the model's input tensors, e.g. from the package's processor"


def usage_snippet(import_name: str, repo_id: str, example_input: str | None = None) -> str:
    """The card's loading snippet: import the package, load model and processor, embed one raw input.

    `example_input` is Python source that makes `inputs` with `processor` (`numpy as np` is imported).
    """
    lines = [
        "import numpy as np",
        f"import {import_name}  # registers the model and its processor with transformers' Auto classes",
        "from transformers import AutoModel, AutoProcessor",
        "",
        f'model = AutoModel.from_pretrained("{repo_id}")',
        f'processor = AutoProcessor.from_pretrained("{repo_id}")',
        (example_input or GENERIC_EXAMPLE).strip(),
        "embeddings = model(**inputs).last_hidden_state  # (batch, tokens, hidden)",
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _rows(values: dict[str, Any] | None) -> list[tuple[str, str]]:
    return [(_cell(k), _cell(v)) for k, v in (values or {}).items()]


def model_card(
    config: PreTrainedConfig,
    metrics: dict[str, Any] | None = None,
    *,
    library_name: str,
    domain: str,
    paper_url: str | None,
    datasets: list[str] | None = None,
    license: str = "apache-2.0",
    description: str = "",
    pipeline_tag: str = "feature-extraction",
    base_model: str | None = None,
    import_name: str | None = None,
    repo_id: str | None = None,
    training: dict[str, Any] | None = None,
    example_input: str | None = None,
    data_description: str | None = None,
    evaluation: dict[str, Any] | None = None,
) -> str:
    """Render a model card (YAML front matter + markdown) from a config and evaluation results.

    ``metrics`` (name → value) fill a results table; ``training`` (setting → value) an optional training table.
    ``datasets`` are Hub data set ids (linked); ``data_description`` says in words what else the model saw.
    ``evaluation`` (``{"metrics": {...}, "data": name}``, what `jepa evaluate` measured) goes into the
    front matter's ``model-index``. The usage snippet imports ``import_name``, loads ``repo_id`` (the run folder
    or Hub id) and runs ``example_input``. Nothing here touches the network.
    """
    cfg = config.to_dict()
    hparams = {
        k: v
        for k, v in cfg.items()
        if k not in _BASE_CONFIG_KEYS
        and not k.startswith("_")
        and isinstance(v, int | float | str | bool | tuple | list)
    }
    tags = list(dict.fromkeys(["jepa", "self-supervised", domain.lower().replace(" ", "-"), "feature-extraction"]))
    data = ModelCardData(
        library_name=library_name,
        tags=tags,
        pipeline_tag=pipeline_tag,
        license=license,
        datasets=datasets,
        base_model=base_model,
        model_name=repo_id.split("/")[-1] if repo_id else cfg.get("model_type"),
        eval_results=_eval_results(evaluation),
    )
    card = ModelCard.from_template(
        data,
        template_str=CARD_TEMPLATE,
        title=repo_id.split("/")[-1] if repo_id else cfg.get("model_type") or type(config).__name__,
        description=description,
        domain=domain,
        model_type=cfg.get("model_type") or "unknown",
        architectures=", ".join(cfg.get("architectures") or []) or "architecture not recorded",
        paper_url=paper_url,
        usage=usage_snippet(import_name or library_name.replace("-", "_"), repo_id or ".", example_input),
        data_description=data_description,
        metric_rows=_rows(metrics),
        training_rows=_rows(training),
        hparam_rows=_rows(hparams),
        objective=cfg.get("objective", "ema"),
    )
    return str(card)


def _eval_results(evaluation: dict[str, Any] | None) -> list[EvalResult] | None:
    if not evaluation:
        return None
    data = evaluation.get("data") or "evaluation data"
    return [
        EvalResult(
            task_type="feature-extraction",
            dataset_type=data,
            dataset_name=data,
            metric_type=name,
            metric_value=value,
        )
        for name, value in evaluation["metrics"].items()
        if isinstance(value, int | float)
    ]


def write_model_card(folder: str | Path, card_text: str) -> Path:
    """Write ``card_text`` to ``folder/README.md`` and return its path."""
    path = Path(folder) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(card_text, encoding="utf-8")
    return path


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a folder; run `jepa pretrain` or `model.save_pretrained({str(folder)!r})` first"
        )
    missing = [] if (folder / "config.json").is_file() else ["config.json"]
    if not any((folder / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json")):
        missing.append("model.safetensors")
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks {' and '.join(missing)}; run `jepa pretrain` or `model.save_pretrained(folder)` first"
        )
    if not (folder / "README.md").is_file():
        raise FileNotFoundError(
            f"{folder} has no README.md model card; write one with "
            "`write_model_card(folder, model_card(config, ...))` before publishing"
        )


# What a `jepa pretrain` run folder holds beside the published model: resume state stays local.
RUN_ONLY_FILES = ["checkpoints/*", "pretraining/*", "runs/*", "tensorboard/*", "training_args.json"]


def publish(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload JEPA model",
    revision: str | None = None,
) -> str:
    """Upload a saved model folder (config.json, model.safetensors, README.md) to ``repo_id``; return its URL.

    Resume state of a run folder (`RUN_ONLY_FILES`) is not uploaded. Creates the repo if needed (and the
    ``revision`` branch when given). ``token`` defaults to the
    logged-in token; it is only handed to :class:`~huggingface_hub.HfApi`, never logged.
    """
    folder = Path(folder)
    _check_folder(folder)
    api = HfApi(token=token)
    url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    if revision is not None:
        api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
    logger.info("Uploading %s to %s", folder, repo_id)
    api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        commit_message=commit_message,
        revision=revision,
        repo_type="model",
        ignore_patterns=RUN_ONLY_FILES,
    )
    return str(url)
