"""Evaluation: collapse diagnostics (RankMe, JEPA-SCORE), frozen feature extraction, probes and the contract."""

from jepa_core.evaluation.contract import Embedded, Evaluation, embed, embed_dataset, evaluate_encoder
from jepa_core.evaluation.embeddings import extract_embeddings, pool_tokens
from jepa_core.evaluation.jepa_score import jepa_score
from jepa_core.evaluation.probes import knn_probe, linear_probe, multilabel_linear_probe
from jepa_core.evaluation.rankme import rankme

__all__ = [
    "Embedded",
    "Evaluation",
    "embed",
    "embed_dataset",
    "evaluate_encoder",
    "extract_embeddings",
    "jepa_score",
    "knn_probe",
    "linear_probe",
    "multilabel_linear_probe",
    "pool_tokens",
    "rankme",
]
