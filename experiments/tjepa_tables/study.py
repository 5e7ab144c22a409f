"""T-JEPA on scikit-learn's shipped tables: downstream models on embeddings vs raw features vs gradient boosting.

For each table and seed: an 80/20 split, a processor fitted on train, T-JEPA pretrained on the train rows with
k = 0 and k = `--registers` [REG] tokens. Downstream on the frozen embeddings (the paper's flattened [REG] +
feature tokens) and on the processed raw features: a linear model (logistic / ridge) and an MLP; plus
HistGradientBoosting on the raw features. RankMe is that of the mean feature token of all rows.

    .venv/bin/python -m experiments.tjepa_tables.study --seeds 0 1 2 --max-steps 300

(run from the repository root; results in `experiments/tjepa_tables/README.md`)
"""

import argparse
import logging
import tempfile
import time

import numpy as np
import torch
from jepa_core.evaluation import linear_probe, rankme
from jepa_core.training import TrainingArguments, pretrain
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import accuracy_score, r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tjepa import TabularJepaConfig, TabularJepaForPreTraining, TabularJepaMaskCollator, TabularJepaProcessor
from tjepa.data import processed_split, sklearn_table, split_table

TABLES = ("breast_cancer", "wine", "diabetes")


def _score(task: str, y_true, y_pred) -> float:
    return float(accuracy_score(y_true, y_pred) if task == "classification" else r2_score(y_true, y_pred))


def downstream(task: str, train_x, train_y, test_x, test_y, seed: int) -> dict[str, float]:
    """Linear and MLP scores (accuracy or R²) of features → labels."""
    linear = linear_probe(train_x, train_y, test_x, test_y, task, seed)
    options = dict(hidden_layer_sizes=(128,), alpha=1e-3, max_iter=1000, random_state=seed)
    if task == "classification":
        mlp = make_pipeline(StandardScaler(), MLPClassifier(**options))
    else:  # regression targets standardised for the MLP, predictions mapped back
        mlp = TransformedTargetRegressor(
            make_pipeline(StandardScaler(), MLPRegressor(**options)), transformer=StandardScaler()
        )
    mlp.fit(train_x, train_y)
    return {
        "linear": linear["accuracy" if task == "classification" else "r2"],
        "mlp": _score(task, test_y, mlp.predict(test_x)),
    }


def pretrained_embeddings(train, test, processor, registers: int, max_steps: int, seed: int) -> tuple:
    config = TabularJepaConfig.from_preset(
        "tiny", **processor.config_overrides(), num_register_tokens=registers, max_steps=max_steps
    )
    torch.manual_seed(seed)
    model = TabularJepaForPreTraining(config)
    with tempfile.TemporaryDirectory() as folder:
        args = TrainingArguments.from_config(config, folder, seed=seed, show_progress=False)
        pretrain(model, train, TabularJepaMaskCollator.from_config(config, seed), args)
    encoder = model.export_encoder()
    flat = [encoder.embed(s.tensors["numerical_features"], s.tensors["categorical_features"]) for s in (train, test)]
    mean = [
        encoder.embed(s.tensors["numerical_features"], s.tensors["categorical_features"], "mean") for s in (train, test)
    ]
    return flat, rankme(torch.cat(mean))


def run_table(name: str, seed: int, registers: int, max_steps: int) -> dict[str, float]:
    train_frame, test_frame = split_table(sklearn_table(name), seed=seed)
    processor = TabularJepaProcessor(verbose=False).fit(train_frame)
    train = processed_split(train_frame, test_frame, "train", processor=processor)
    test = processed_split(train_frame, test_frame, "test", processor=processor)
    task, y_train, y_test = processor.task, train.tensors["labels"].numpy(), test.tensors["labels"].numpy()
    raw = [s.tensors["numerical_features"].numpy() for s in (train, test)]
    row = {f"raw_{k}": v for k, v in downstream(task, raw[0], y_train, raw[1], y_test, seed).items()}
    boosting = (HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor)(
        random_state=seed
    )
    row["hgb"] = _score(task, y_test, boosting.fit(raw[0], y_train).predict(raw[1]))
    for k in (0, registers):
        (emb_train, emb_test), effective_rank = pretrained_embeddings(train, test, processor, k, max_steps, seed)
        scores = downstream(task, emb_train.numpy(), y_train, emb_test.numpy(), y_test, seed)
        row.update({f"tjepa{k}_{m}": v for m, v in scores.items()}, **{f"tjepa{k}_rankme": effective_rank})
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=TABLES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--registers", type=int, default=1, help="k of the [REG] ablation (vs 0)")
    parser.add_argument("--max-steps", type=int, default=300, help="pretraining steps (tiny preset)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.getLogger("jepa_core").setLevel(logging.ERROR)
    started = time.time()
    k = args.registers
    columns = ["hgb", "raw_linear", "raw_mlp", f"tjepa{k}_linear", f"tjepa{k}_mlp", "tjepa0_linear", "tjepa0_mlp",
               f"tjepa{k}_rankme", "tjepa0_rankme"]  # fmt: skip
    print(f"| table (metric) | {' | '.join(columns)} |\n|---|{'---|' * len(columns)}")
    for name in args.tables:
        rows = [run_table(name, seed, k, args.max_steps) for seed in args.seeds]
        metric = "R²" if name == "diabetes" else "acc"
        cells = [f"{np.mean([r[c] for r in rows]):.3f} ± {np.std([r[c] for r in rows]):.3f}" for c in columns]
        print(f"| {name} ({metric}) | {' | '.join(cells)} |", flush=True)
    print(f"\n{len(args.seeds)} seeds, {args.max_steps} steps, {(time.time() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
