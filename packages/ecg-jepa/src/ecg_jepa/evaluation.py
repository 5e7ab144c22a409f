"""The paper's evaluation protocol on frozen encoders: 2.5-s crops, strided crops averaged, multi-label macro AUC."""

import numpy as np
import torch
from jepa_core.evaluation import pool_tokens
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .configuration_ecg_jepa import EcgJepaConfig
from .data import EcgRecords, load_dataset, simulated_dataset


def strided_crops(record: torch.Tensor, crop_length: int, stride: int) -> torch.Tensor:
    """(leads, samples) → (num_crops, leads, crop_length): crops every `stride` samples (7 per 10 s at the defaults)."""
    if record.shape[-1] < crop_length:
        raise ValueError(f"record of {record.shape[-1]} samples is shorter than the {crop_length}-sample crop")
    starts = range(0, record.shape[-1] - crop_length + 1, stride)
    return torch.stack([record[:, s : s + crop_length] for s in starts])


@torch.no_grad()
def crop_embeddings(encoder, dataset: EcgRecords, config: EcgJepaConfig, batch_size: int = 256) -> list[torch.Tensor]:
    """Per record the mean-pooled patch-token embeddings of its strided crops, (num_crops, hidden_size) each."""
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    crops = [strided_crops(r, config.eval_crop_length, config.eval_crop_stride) for r in dataset.records]
    flat = torch.cat(crops)
    pooled = []
    for start in range(0, len(flat), batch_size):
        hidden = encoder(input_values=flat[start : start + batch_size].to(device)).last_hidden_state
        pooled.append(pool_tokens(hidden, "mean", config.num_register_tokens).float().cpu())
    encoder.train(was_training)
    return list(torch.cat(pooled).split([len(c) for c in crops]))


def multilabel_linear_probe(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, seed: int = 0
) -> dict[str, float]:
    """One-vs-rest logistic regression on standardised features → macro ROC-AUC over labels seen in both splits."""
    usable = [
        j for j in range(train_y.shape[1]) if len(np.unique(train_y[:, j])) == 2 and len(np.unique(test_y[:, j])) == 2
    ]
    if not usable:
        raise ValueError("no label has both classes in the train and the test split; the AUC is undefined")
    classifier = OneVsRestClassifier(LogisticRegression(max_iter=2000, random_state=seed))
    model = make_pipeline(StandardScaler(), classifier).fit(train_x, train_y[:, usable])
    scores = model.decision_function(test_x)
    aucs = [roc_auc_score(test_y[:, j], scores[:, k]) for k, j in enumerate(usable)]
    return {"macro_auc": float(np.mean(aucs)), "per_label_auc": aucs, "labels": usable}


def probe_records(encoder, train: EcgRecords, test: EcgRecords, config: EcgJepaConfig) -> dict[str, float]:
    """Linear probe trained on every crop of the train records, tested on crop-averaged test embeddings.

    For a linear head, averaging the logits of the crops (the paper) equals the logit of the averaged embedding.
    """
    if train.labels is None or test.labels is None:
        raise ValueError("evaluation needs labelled records (PTB-XL, or an .npz with 'labels')")
    train_emb, test_emb = crop_embeddings(encoder, train, config), crop_embeddings(encoder, test, config)
    train_x = torch.cat(train_emb).numpy()
    train_y = torch.cat([label.expand(len(e), -1) for e, label in zip(train_emb, train.labels, strict=True)]).numpy()
    test_x = torch.stack([e.mean(0) for e in test_emb]).numpy()
    result = multilabel_linear_probe(train_x, train_y, test_x, test.labels.numpy())
    metrics = {"probe_macro_auc": result["macro_auc"]}
    for j, auc in zip(result["labels"], result["per_label_auc"], strict=True):
        name = test.label_names[j] if j < len(test.label_names) else str(j)
        metrics[f"probe_auc_{name}"] = float(auc)
    return metrics


def evaluate(encoder, config: EcgJepaConfig, data: str | None = None) -> dict[str, float]:
    """Macro ROC-AUC of a multi-label linear probe (headline), per-label AUCs; embedded data when `data` is None."""
    if data is None:
        train, test = simulated_dataset("train", config), simulated_dataset("test", config)
    else:
        train, test = load_dataset(data, "train", config), load_dataset(data, "test", config)
    return probe_records(encoder, train, test, config)
