"""Evaluation: collapse diagnostics (RankMe, JEPA-SCORE), frozen feature extraction and probes."""

from jepa_core.evaluation.embeddings import extract_embeddings, pool_tokens
from jepa_core.evaluation.jepa_score import jepa_score
from jepa_core.evaluation.probes import knn_probe, linear_probe
from jepa_core.evaluation.rankme import rankme

__all__ = ["extract_embeddings", "jepa_score", "knn_probe", "linear_probe", "pool_tokens", "rankme"]
