"""Out-of-distribution scores on one encoder: JEPA-SCORE (Jacobian) vs Mahalanobis and k-NN (embeddings).

Every detector returns an anomaly score per sample (higher = more out-of-distribution) and is timed.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from jepa_core.evaluation import jepa_score
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score
from torch import Tensor


@dataclass
class Scored:
    """Anomaly scores of the in-distribution set and of each shifted set, and the seconds each took."""

    in_distribution: np.ndarray
    shifted: dict[str, np.ndarray]
    seconds: float


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Probability that an out-of-distribution sample scores above an in-distribution one."""
    labels = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    return float(roc_auc_score(labels, np.r_[in_scores, out_scores]))


def _timed(fn: Callable[[], tuple[np.ndarray, dict[str, np.ndarray]]]) -> Scored:
    start = time.perf_counter()
    inside, shifted = fn()
    return Scored(inside, shifted, time.perf_counter() - start)


def mahalanobis(reference: Tensor, inside: Tensor, shifted: dict[str, Tensor]) -> Scored:
    """Distance to the reference embeddings' Gaussian (Ledoit-Wolf shrunk covariance); time includes the fit."""

    def run():
        fit = LedoitWolf().fit(reference.double().numpy())
        return fit.mahalanobis(inside.double().numpy()), {
            k: fit.mahalanobis(v.double().numpy()) for k, v in shifted.items()
        }

    return _timed(run)


def knn_distance(reference: Tensor, inside: Tensor, shifted: dict[str, Tensor], k: int = 5) -> Scored:
    """Euclidean distance of the L2-normalised embedding to its k-th nearest reference embedding."""
    if not 1 <= k <= len(reference):
        raise ValueError(f"k must be in [1, {len(reference)}] (the reference size), got {k}")

    def score(embeddings: Tensor) -> np.ndarray:
        bank = torch.nn.functional.normalize(reference.float(), dim=1)
        query = torch.nn.functional.normalize(embeddings.float(), dim=1)
        return torch.cdist(query, bank).topk(k, largest=False).values[:, -1].numpy()

    return _timed(lambda: (score(inside), {name: score(v) for name, v in shifted.items()}))


def negative_jepa_score(embed: Callable[[Tensor], Tensor], inside: Tensor, shifted: dict[str, Tensor]) -> Scored:
    """``−JEPA-SCORE`` (the score is a log-density proxy: low density = anomalous), from raw inputs."""

    def score(inputs: Tensor) -> np.ndarray:
        return -jepa_score(embed, inputs).double().numpy()

    return _timed(lambda: (score(inside), {name: score(v) for name, v in shifted.items()}))
