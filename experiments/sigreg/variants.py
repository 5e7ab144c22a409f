"""SIGReg variants compared on the demos: each variant is a list of `--set` settings.

Each (domain, seed, variant) is the demo's path in a fresh process (`jepa pretrain D --preset tiny --set ...` for
`--multiple` × the demo's steps or `--steps`, the saved encoder reloaded with `AutoModel` and probed by the core's
evaluation). Reported per domain and variant over `--seeds`: the headline metric, RankMe of the last 512 pooled
target embeddings (the trainer's monitor) and the last logged loss parts, as mean ± half-range. Each result is kept
in `--results` and not run again. Run from the repository root, e.g. stop-gradient on I-JEPA and pooled vs
per-token SIGReg everywhere:

    uv run --no-sync python -m experiments.sigreg.variants --domains ijepa --steps 50 \
        --variant gradient objective=sigreg sigreg_stop_gradient=false \
        --variant stop-gradient objective=sigreg sigreg_stop_gradient=true
    uv run --no-sync python -m experiments.sigreg.variants --seeds 0 1 --jobs 2 \
        --variant pooled objective=sigreg --variant tokens objective=sigreg sigreg_embeddings=tokens
"""

import argparse
import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .demo_path import demo_steps, in_fresh_process, pretrain_and_probe
from .table import DOMAINS, cell


def run(name: str, seed: int, variant: list[str], args: argparse.Namespace) -> dict:
    """One variant's result, from `args.results` if saved there, else run in a fresh process and saved."""
    steps = args.steps or args.multiple * demo_steps(name)
    path = Path(args.results) / f"{name}-{variant[0]}-{steps}-{seed}.json"
    if not path.exists():
        settings = variant[1:]
        result = in_fresh_process("experiments.sigreg.variants", [name, str(seed), str(steps), str(args.threads),
                                                                  *settings])  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"settings": settings, **result}) + "\n")
        print(f"{path.name}: {path.read_text().strip()}", flush=True)
    return {**json.loads(path.read_text()), "steps": steps}


def worker(name: str, seed: str, steps: str, threads: str, *settings: str) -> None:
    """One run in this process; prints its result as one JSON line."""
    with tempfile.TemporaryDirectory() as tmp:
        result = pretrain_and_probe(name, int(seed), int(steps), int(threads), Path(tmp), list(settings))
    print(json.dumps({key: value for key, value in result.items() if key != "output_dir"}))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker(*argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", nargs="+", default=list(DOMAINS), choices=DOMAINS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--variant", nargs="+", action="append", required=True, metavar=("NAME", "KEY=VALUE"),
                        help="a name and its --set settings; give one --variant per variant")  # fmt: skip
    parser.add_argument("--steps", type=int, help="steps of every run (default: --multiple × the demo's)")
    parser.add_argument("--multiple", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (one per core)")
    parser.add_argument("--results", default=None, help="folder of saved results (default: a new temporary one)")
    args = parser.parse_args(argv)
    args.results = args.results or tempfile.mkdtemp()
    jobs = [(name, seed, variant) for name in args.domains for variant in args.variant for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run(*job, args), jobs))
    print("\n| domain | variant | steps | seeds | headline | RankMe | losses | minutes per run |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.domains:
        for variant in args.variant:
            rows = [r for (n, _, v), r in zip(jobs, results, strict=True) if (n, v) == (name, variant)]
            losses = ", ".join(f"{key} {cell([r['losses'][key] for r in rows])}" for key in rows[0]["losses"])
            headline, rankme = cell([r["headline"] for r in rows]), cell([r["rankme"] for r in rows], 1)
            print(f"| {name} | {variant[0]} | {rows[0]['steps']} | {' '.join(map(str, args.seeds))} | "
                  f"{rows[0]['metric']} {headline} | {rankme} | {losses} | "
                  f"{np.mean([r['seconds'] for r in rows]) / 60:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
