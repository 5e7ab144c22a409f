"""Linear and k-NN probes on frozen embeddings (scikit-learn, imported by the probe that runs: `jepa pretrain`
never loads it, about 1 s of every start)."""

from typing import Any

import numpy as np
import torch

TASKS = ("classification", "regression")
RIDGE_ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


def _array(a: Any) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu()
        a = a.float() if a.is_floating_point() else a
        a = a.numpy()
    return np.asarray(a)


def _prepare(train_x, train_y, test_x, test_y, task: str) -> tuple[np.ndarray, ...]:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    arrays = [_array(a) for a in (train_x, train_y, test_x, test_y)]
    for (x, y), split in zip((arrays[:2], arrays[2:]), ("train", "test"), strict=True):
        if x.ndim != 2:
            raise ValueError(f"{split}_x must be 2-D (N, D), got shape {x.shape}")
        if len(x) == 0:
            raise ValueError(f"{split}_x is empty")
        if len(x) != len(y):
            raise ValueError(f"{split}_x has {len(x)} rows but {split}_y has {len(y)}")
        if not np.isfinite(x).all():
            raise ValueError(f"{split}_x has NaN or inf values")
        if y.dtype.kind in "fc" and not np.isfinite(y).all():
            raise ValueError(f"{split}_y has NaN or inf values")
        if task == "classification" and y.ndim != 1:
            raise ValueError(f"{split}_y must be 1-D class labels for classification, got shape {y.shape}")
    if arrays[0].shape[1] != arrays[2].shape[1]:
        raise ValueError(f"train_x has {arrays[0].shape[1]} features but test_x has {arrays[2].shape[1]}")
    if task == "classification" and len(np.unique(arrays[1])) < 2:
        raise ValueError("train_y has a single class; classification needs at least 2")
    return tuple(arrays)


def _label_metrics(test_y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(test_y, pred)),
        "f1_macro": float(f1_score(test_y, pred, average="macro", zero_division=0)),
    }


def _regression_metrics(test_y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_squared_error, r2_score

    return {"r2": float(r2_score(test_y, pred)), "rmse": float(np.sqrt(mean_squared_error(test_y, pred)))}


def linear_probe(train_x, train_y, test_x, test_y, task: str = "classification", seed: int = 0) -> dict:
    """Fit a linear probe on standardised train features, evaluate on test.

    Classification: multinomial ``LogisticRegression`` → ``accuracy``, ``f1_macro`` and, for two classes,
    ``roc_auc`` (NaN if the test split has one class). Regression: ``RidgeCV`` with its alpha picked by
    leave-one-out CV on train from ``RIDGE_ALPHAS`` → ``r2``, ``rmse``, ``alpha``. Inputs are numpy arrays or
    tensors; ``y`` may be 2-D (multi-output) for regression.
    """
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_x, train_y, test_x, test_y = _prepare(train_x, train_y, test_x, test_y, task)
    if task == "classification":
        clf = LogisticRegression(max_iter=2000, random_state=seed)
        model = make_pipeline(StandardScaler(), clf).fit(train_x, train_y)
        out = _label_metrics(test_y, model.predict(test_x))
        if len(clf.classes_) == 2:
            score = model.predict_proba(test_x)[:, 1]
            both = len(np.unique(test_y)) == 2
            out["roc_auc"] = float(roc_auc_score(test_y == clf.classes_[1], score)) if both else float("nan")
        return out
    ridge = RidgeCV(alphas=RIDGE_ALPHAS)
    model = make_pipeline(StandardScaler(), ridge).fit(train_x, train_y)
    return {**_regression_metrics(test_y, model.predict(test_x)), "alpha": float(ridge.alpha_)}


def knn_probe(
    train_x, train_y, test_x, test_y, k: int = 20, task: str = "classification", metric: str = "cosine"
) -> dict:
    """k-NN probe on raw features: majority vote (``accuracy``, ``f1_macro``) or mean (``r2``, ``rmse``).

    ``k`` is capped at the number of training rows; the value used is returned as ``k``.
    """
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    train_x, train_y, test_x, test_y = _prepare(train_x, train_y, test_x, test_y, task)
    k = min(k, len(train_x))
    if task == "classification":
        model = KNeighborsClassifier(n_neighbors=k, metric=metric).fit(train_x, train_y)
        out = _label_metrics(test_y, model.predict(test_x))
    else:
        model = KNeighborsRegressor(n_neighbors=k, metric=metric).fit(train_x, train_y)
        out = _regression_metrics(test_y, model.predict(test_x))
    return {**out, "k": k}


def multilabel_linear_probe(train_x, train_y, test_x, test_y, seed: int = 0) -> dict:
    """One-vs-rest logistic regression on standardised features → macro ROC-AUC over the labels that have both
    values in both splits (``per_label_auc`` and the ``labels`` used are returned too)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_x, train_y, test_x, test_y = (_array(a) for a in (train_x, train_y, test_x, test_y))
    usable = [
        j for j in range(train_y.shape[1]) if len(np.unique(train_y[:, j])) == 2 and len(np.unique(test_y[:, j])) == 2
    ]
    if not usable:
        raise ValueError("no label has both values in the train and the test split; the ROC-AUC is undefined")
    classifier = OneVsRestClassifier(LogisticRegression(max_iter=2000, random_state=seed))
    model = make_pipeline(StandardScaler(), classifier).fit(train_x, train_y[:, usable])
    scores = model.decision_function(test_x)
    scores = scores[:, None] if scores.ndim == 1 else scores
    aucs = [float(roc_auc_score(test_y[:, j], scores[:, k])) for k, j in enumerate(usable)]
    return {"macro_auc": float(np.mean(aucs)), "per_label_auc": aucs, "labels": usable}
