"""JEPA-SCORE as an out-of-distribution detector on tiny pretrained I-JEPA and T-JEPA, against embedding baselines.

Run from the repository root: ``.venv/bin/python -m experiments.jepa_score.study [--domains ijepa tjepa]
[--steps N] [--count N] [--out DIR]``. For each domain it pretrains the ``tiny`` preset, then scores held-out
in-distribution samples and each shifted set with ``−JEPA-SCORE`` (Jacobian of the mean-pooled embedding w.r.t.
the input), the Mahalanobis distance and the k-NN (k=5, cosine) distance to the training embeddings, and reports
AUROC (1 = every shifted sample scores as more anomalous than every in-distribution one, 0.5 = chance) and
seconds. The same is repeated on the random-init encoder as a control. Writes ``results.json`` / ``results.md``.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from . import detectors
from .setups import SETUPS, Setup

DETECTORS = ("jepa_score", "mahalanobis", "knn")


@torch.no_grad()
def embed_all(setup: Setup, inputs: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    return torch.cat([setup.embed(chunk) for chunk in inputs.split(batch_size)])


def evaluate(setup: Setup, encoder_label: str) -> tuple[list[dict], dict]:
    """AUROC rows (one per shifted set) and the seconds each detector and the embedding pass took."""
    start = time.perf_counter()
    reference = embed_all(setup, setup.reference)
    inside = embed_all(setup, setup.in_distribution)
    shifted = {name: embed_all(setup, inputs) for name, inputs in setup.shifted.items()}
    embedding_seconds = time.perf_counter() - start
    scored = {
        "jepa_score": detectors.negative_jepa_score(setup.embed, setup.in_distribution, setup.shifted),
        "mahalanobis": detectors.mahalanobis(reference, inside, shifted),
        "knn": detectors.knn_distance(reference, inside, shifted),
    }
    rows = []
    for name in setup.shifted:
        row = {"domain": setup.name, "encoder": encoder_label, "shift": name}
        for detector, result in scored.items():
            row[detector] = detectors.auroc(result.in_distribution, result.shifted[name])
        rows.append(row)
    samples = len(setup.in_distribution) + sum(len(v) for v in setup.shifted.values())
    timing = {"domain": setup.name, "encoder": encoder_label, "samples": samples, "embedding_s": embedding_seconds}
    timing.update({f"{detector}_s": result.seconds for detector, result in scored.items()})
    return rows, timing


def markdown(rows: list[dict], timings: list[dict]) -> str:
    lines = [
        "| domain | encoder | shifted set | AUROC −JEPA-SCORE | AUROC Mahalanobis | AUROC k-NN |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['domain']} | {r['encoder']} | {r['shift']} | "
        + " | ".join(f"{r[detector]:.3f}" for detector in DETECTORS)
        + " |"
        for r in rows
    ]
    lines += [
        "",
        "| domain | encoder | samples scored | embeddings (s) | JEPA-SCORE (s) | Mahalanobis (s) | k-NN (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {t['domain']} | {t['encoder']} | {t['samples']} | {t['embedding_s']:.2f} | {t['jepa_score_s']:.2f} | "
        f"{t['mahalanobis_s']:.3f} | {t['knn_s']:.3f} |"
        for t in timings
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> tuple[list[dict], list[dict]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--steps", type=int, default=300, help="pretraining steps (the tiny presets' max_steps)")
    parser.add_argument("--count", type=int, default=64, help="in-distribution and per-shift samples (at most)")
    parser.add_argument("--no-control", action="store_true", help="skip the random-init encoder control")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core box)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, timings = [], []
    for domain in args.domains:
        variants = [("pretrained", False)] + ([] if args.no_control else [("random init", True)])
        for label, random_init in variants:
            with tempfile.TemporaryDirectory() as run_dir:
                start = time.perf_counter()
                setup = SETUPS[domain](args.steps, args.count, run_dir, random_init=random_init)
                setup_seconds = time.perf_counter() - start
            domain_rows, timing = evaluate(setup, label)
            timing["pretraining_s"] = setup_seconds
            timing["final_loss"] = setup.train_metrics.get("final_loss")
            rows += domain_rows
            timings.append(timing)
    table = markdown(rows, timings)
    print(table)
    (args.out / "results.md").write_text(table + "\n")
    saved = {"rows": rows, "timings": timings, "args": vars(args)}
    (args.out / "results.json").write_text(json.dumps(saved, indent=1, default=str))
    return rows, timings


if __name__ == "__main__":
    main()
