"""The demo's code path, shared by the SIGReg studies: pretrain a domain's tiny preset on its embedded data with
`jepa pretrain`'s own code, reload the saved encoder with `AutoModel` and probe it with the core's evaluation; and
a runner that does such work in a fresh interpreter (each run starts as a user's would, with its own threads)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TRANSFORMERS_VERBOSITY": "error"}


def demo_steps(name: str) -> int:
    """The demo's step count: the tiny preset's `max_steps`."""
    from jepa_core.domain import get_domain

    return get_domain(name).config_class.from_preset("tiny").max_steps


def pretrain_and_probe(name: str, seed: int, steps: int, threads: int, folder: Path, settings: list[str]) -> dict:
    """One run (`--set` for each "key=value" of `settings`) and the probe of its saved encoder: the headline value,
    RankMe at the last step, the last logged loss parts, the seconds it took and the run folder."""
    from jepa_core.cli import build_parser, run_pretraining
    from jepa_core.domain import get_domain
    from jepa_core.evaluation import evaluate_encoder
    from jepa_core.processing import load_processor
    from transformers import AutoModel

    started, domain = time.time(), get_domain(name)
    argv = ["pretrain", name, "--preset", "tiny", "--max-steps", str(steps), "--seed", str(seed), "--threads",
            str(threads), "--output-dir", str(folder), "--overwrite", "--save-every", str(10**9)]  # fmt: skip
    for setting in settings:
        argv += ["--set", setting]
    output_dir, _, train = run_pretraining(domain, build_parser().parse_args(argv))
    encoder = AutoModel.from_pretrained(output_dir)
    evaluation = evaluate_encoder(domain, encoder, load_processor(output_dir, domain.processor_class))
    last = json.loads((Path(output_dir) / "metrics.json").read_text())["history"][-1]
    return {
        "metric": evaluation.headline,
        "headline": evaluation.headline_value,
        "rankme": train["final_rankme"],
        "losses": {key.removeprefix("loss_"): value for key, value in last.items() if key.startswith("loss_")},
        "seconds": time.time() - started,
        "output_dir": str(output_dir),
    }


def in_fresh_process(module: str, args: list[str]) -> dict:
    """Run `python -m module --worker *args` from the repository root; its last stdout line is the JSON result."""
    command = [sys.executable, "-m", module, "--worker", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=ROOT)
    if result.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
