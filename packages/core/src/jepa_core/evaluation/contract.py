"""One evaluation contract for every domain: the core loads and checks the labelled splits once, the domain
embeds them, the core runs the probes and names the headline metric."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from .embeddings import pool_tokens
from .probes import knn_probe, linear_probe, multilabel_linear_probe

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from ..domain import Domain

logger = logging.getLogger(__name__)
TASK_HEADLINES = {
    "classification": "linear_probe_accuracy",
    "multilabel": "linear_probe_macro_auc",
    "regression": "linear_probe_r2",
}


@dataclass
class Embedded:
    """Pooled features (N, D) of a split, with its labels (N,) or (N, K) multi-hot, and sample ids, if known."""

    features: torch.Tensor
    labels: np.ndarray | None = None
    ids: list[str] | None = None


@dataclass
class Evaluation:
    """Metrics of a frozen encoder; `headline` names the one to lead with."""

    metrics: dict[str, float]
    headline: str
    notes: list[str] = field(default_factory=list)

    @property
    def headline_value(self) -> float:
        return self.metrics[self.headline]

    def to_dict(self) -> dict:
        return {"headline_metric": self.headline, **self.metrics, **({"notes": self.notes} if self.notes else {})}


def labels_of(dataset: Dataset) -> np.ndarray | None:
    """The labels of every sample (`dataset.labels` when the data set keeps them, else read sample by sample)."""
    labels = getattr(dataset, "labels", None)
    if labels is None:
        first = dataset[0] if len(dataset) else {}
        if "labels" not in first:
            return None
        labels = [dataset[i]["labels"] for i in range(len(dataset))]
        labels = torch.stack([torch.as_tensor(v) for v in labels])
    return np.asarray(labels.cpu().numpy() if isinstance(labels, torch.Tensor) else labels)


def ids_of(dataset: Dataset) -> list[str]:
    ids = getattr(dataset, "ids", None)
    return [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(dataset))]


def batches_of(dataset: Dataset, batch_size: int, progress: bool = False, desc: str = "") -> Iterator[list[dict]]:
    """Lists of samples, `batch_size` at a time, with an optional progress bar."""
    with tqdm(total=len(dataset), disable=not progress, desc=desc, unit="sample") as bar:
        for start in range(0, len(dataset), batch_size):
            samples = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            yield samples
            bar.update(len(samples))


@torch.no_grad()
def embed_dataset(domain: Domain, encoder, dataset: Dataset, batch_size: int = 64, progress: bool = False) -> Embedded:
    """Mean-pooled non-prefix tokens of every sample (the default probe embedding), in the encoder's eval mode."""
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    prefix = encoder.config.num_register_tokens
    features = []
    try:
        for samples in batches_of(dataset, batch_size, progress, desc="embedding"):
            inputs = {k: v.to(device) for k, v in domain.batch_inputs(samples, encoder.config).items()}
            hidden = encoder(**inputs).last_hidden_state
            features.append(pool_tokens(hidden, "mean", prefix).float().cpu())
    finally:
        encoder.train(was_training)
    return Embedded(torch.cat(features), labels_of(dataset), ids_of(dataset))


def embed(domain: Domain, encoder, dataset: Dataset, progress: bool = False) -> Embedded:
    """The domain's own embedding when it has one, else `embed_dataset`."""
    if len(dataset) == 0:
        raise ValueError("the data set is empty; point --data at files with samples")
    if domain.embed is not None:
        return domain.embed(encoder, dataset)
    return embed_dataset(domain, encoder, dataset, progress=progress)


def task_of(labels: np.ndarray) -> str:
    """classification (integer classes), multilabel (a 0/1 matrix) or regression (floats)."""
    if labels.ndim == 2 and labels.shape[1] > 1:
        return "multilabel"
    if labels.dtype.kind in "iub":
        return "classification"
    return "regression"


def check_splits(train: Dataset, test: Dataset, train_emb: Embedded, test_emb: Embedded) -> list[str]:
    """Refuse splits that would give a meaningless number; return warnings for doubtful ones."""
    for split, embedded in (("train", train_emb), ("test", test_emb)):
        if embedded.labels is None:
            raise ValueError(
                f"the {split} split has no labels, so no probe can be fit; give --data labelled files "
                "(see the package README's 'Your own data')"
            )
    train_names, test_names = getattr(train, "class_names", None), getattr(test, "class_names", None)
    if train_names is not None and test_names is not None and list(train_names) != list(test_names):
        raise ValueError(
            f"the train and test splits name their classes differently ({list(train_names)} vs {list(test_names)}); "
            "labels must index one shared class table"
        )
    seen = {row.tobytes() for row in train_emb.features.numpy()}
    shared = sum(row.tobytes() in seen for row in test_emb.features.numpy())
    if shared == len(test_emb.features):
        raise ValueError(
            "every test sample is also in the train split (identical embeddings); a probe scored on its training "
            "data is meaningless: give a separate test split"
        )
    warnings = [f"{shared} of {len(test_emb.features)} test samples also appear in the train split"] if shared else []
    task = task_of(train_emb.labels)
    if task == "classification":
        train_classes, test_classes = set(np.unique(train_emb.labels)), set(np.unique(test_emb.labels))
        if len(test_classes) < 2:
            raise ValueError(
                f"the test split has a single class ({test_classes.pop()}); accuracy on it says nothing about the "
                "encoder: give a test split with at least two classes"
            )
        unseen = test_classes - train_classes
        if unseen:
            raise ValueError(f"the test split has classes the train split lacks: {sorted(unseen)}")
        missing = train_classes - test_classes
        if missing:
            warnings.append(f"the test split lacks classes {sorted(missing)} of the train split")
    for warning in warnings:
        logger.warning(warning)
    return warnings


def probe_metrics(train: Embedded, test: Embedded) -> dict[str, float]:
    """Linear (and, for classes, k-NN) probes of the pooled features, by the labels' task."""
    task = task_of(train.labels)
    if task == "multilabel":
        scores = multilabel_linear_probe(train.features, train.labels, test.features, test.labels)
        return {"linear_probe_macro_auc": scores["macro_auc"]}
    metrics = {
        f"linear_probe_{k}": v
        for k, v in linear_probe(train.features, train.labels, test.features, test.labels, task).items()
    }
    if task == "classification":
        knn = knn_probe(train.features, train.labels, test.features, test.labels)
        metrics.update({f"knn_{k}": v for k, v in knn.items() if k != "k"})
    return metrics


def evaluate_encoder(domain: Domain, encoder, processor=None, data: str | None = None) -> Evaluation:
    """Load the train and test splits (the user's `data`, or the embedded ones) once, check them, embed them
    with the domain's embedding, and probe. The headline metric comes first."""
    config = encoder.config

    def load(split: str, processor):
        if data is None:
            return domain.default_dataset(split, config, processor)
        return domain.load_dataset(data, split, config, processor)

    train = load("train", processor)
    test = load("test", processor if processor is not None else getattr(train, "processor", None))
    train_emb, test_emb = embed(domain, encoder, train), embed(domain, encoder, test)
    notes = check_splits(train, test, train_emb, test_emb)
    metrics = probe_metrics(train_emb, test_emb)
    if domain.extra_metrics is not None:
        metrics.update(domain.extra_metrics(encoder, train, test))
    headline = domain.headline_metric
    if headline not in metrics:  # e.g. a regression table in a domain whose headline is an accuracy
        headline = TASK_HEADLINES[task_of(train_emb.labels)]
        notes.append(
            f"the domain's headline {domain.headline_metric!r} does not apply to these labels; using {headline}"
        )
    ordered = {headline: metrics[headline], **metrics}
    return Evaluation(ordered, headline, notes)
