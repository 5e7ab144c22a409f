"""SIGReg with or without stop-gradient on the targets (`sigreg_stop_gradient`), measured on I-JEPA tiny.

Each run is the demo's path in one process: `jepa pretrain ijepa --preset tiny --set objective=sigreg` for
`--steps` steps (the learning-rate schedule compressed to them), the saved encoder reloaded with `AutoModel` and
probed by the core's evaluation on the embedded MNIST split. Reported per variant over `--seeds`: linear-probe
accuracy (the demo's headline), RankMe of the last 512 pooled target embeddings (the trainer's monitor) and the
final prediction and SIGReg losses, as mean ± half-range. Run from the repository root:

    uv run --no-sync python -m experiments.sigreg.stop_gradient [--steps 50] [--seeds 0 1] [--threads 1]
"""

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from jepa_core.cli import build_parser, run_pretraining
from jepa_core.domain import get_domain
from jepa_core.evaluation import evaluate_encoder
from jepa_core.processing import load_processor
from transformers import AutoModel

DOMAIN = "ijepa"


def run(stop_gradient: bool, seed: int, steps: int, threads: int, folder: Path) -> dict[str, float]:
    """One short pretraining run and the probe of its saved encoder."""
    domain = get_domain(DOMAIN)
    argv = ["pretrain", DOMAIN, "--preset", "tiny", "--max-steps", str(steps), "--seed", str(seed),
            "--threads", str(threads), "--output-dir", str(folder), "--overwrite", "--save-every", "1000000",
            "--set", "objective=sigreg", "--set", f"sigreg_stop_gradient={json.dumps(stop_gradient)}"]  # fmt: skip
    with contextlib.redirect_stderr(io.StringIO()):  # the progress bar
        output_dir, _, train = run_pretraining(domain, build_parser().parse_args(argv))
    encoder = AutoModel.from_pretrained(output_dir)
    evaluation = evaluate_encoder(domain, encoder, load_processor(output_dir, domain.processor_class))
    last = json.loads((Path(output_dir) / "metrics.json").read_text())["history"][-1]
    return {
        "probe": evaluation.headline_value,
        "rankme": train["final_rankme"],
        "prediction": last["loss_prediction"],
        "sigreg": last["loss_sigreg"],
    }


def spread(values: list[float]) -> str:
    """mean ± half-range."""
    return f"{np.mean(values):.3f} ± {(max(values) - min(values)) / 2:.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    started, rows = time.time(), {}
    with tempfile.TemporaryDirectory() as tmp:
        for stop_gradient in (False, True):
            runs = [run(stop_gradient, seed, args.steps, args.threads, Path(tmp) / f"{stop_gradient}-{seed}")
                    for seed in args.seeds]  # fmt: skip
            rows[stop_gradient] = {key: [r[key] for r in runs] for key in runs[0]}
            print(f"stop_gradient={stop_gradient}: {runs}", flush=True)
    print(f"\nI-JEPA tiny, objective=sigreg, {args.steps} steps, seeds {args.seeds}, "
          f"{args.threads} thread(s), {(time.time() - started) / 60:.1f} min\n")  # fmt: skip
    print("| sigreg_stop_gradient | linear probe | RankMe | prediction loss | SIGReg loss |\n|---|---|---|---|---|")
    for stop_gradient, values in rows.items():
        print(f"| {stop_gradient} | " + " | ".join(spread(values[k]) for k in values) + " |")


if __name__ == "__main__":
    main()
