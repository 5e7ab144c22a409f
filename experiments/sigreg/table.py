"""SIGReg against the EMA recipe in every domain: the issue-19 table, written to the root README.

For each domain's demo (`jepa demo D`: the tiny preset on the embedded data, probed by the core's evaluation) and
each seed, one fresh process (this script with `--worker`) runs the demo's code path four times — `objective=ema`
and `objective=sigreg`, each at the demo's step count and at `--multiple` × it (the schedule stretched to the
longer run) — and probes a random-init encoder once, as the demo does. Cells are the headline metric as mean ±
half the range over seeds; RankMe is the trainer's monitor at the last step (centred, last 512 pooled target
embeddings); SIGReg runs record which embeddings SIGReg saw (the domain's `sigreg_embeddings` and `sigreg_view`).
`--scale` multiplies every step count (e.g. 0.05 for a smoke run). Each (domain, seed) result is kept in
`--results` (`experiments/sigreg/results/` at scale 1) and its saved runs are not run again: an interrupted table
resumes, and deleting one run from a result file (e.g. after a default changed) reruns only that run. `--jobs`
runs that many workers side by side. Run from the repository root:

    uv run --no-sync python -m experiments.sigreg.table [--domains ijepa tjepa] [--seeds 0 1 2] [--jobs 2]

It prints the table and, unless `--no-readme`, rewrites the `sigreg_table` section of the root README.
"""

import argparse
import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .demo_path import ROOT, demo_steps, in_fresh_process, pretrain_and_probe

README = ROOT / "README.md"
sys.path.insert(0, str(ROOT / "benchmarks"))
from readme_section import write_section  # noqa: E402  (the benchmarks' marked-section writer)

DOMAINS = ("ijepa", "ajepa", "ecg-jepa", "brain-jepa", "sar-jepa", "tjepa", "stem-jepa", "tsjepa")
OBJECTIVES = ("ema", "sigreg")


def step_counts(name: str, scale: float, multiple: int) -> list[int]:
    """The demo's step count (times `scale`) and `multiple` × it."""
    base = max(1, round(scale * demo_steps(name)))
    return [base, multiple * base]


def worker(name: str, seed: int, scale: float, multiple: int, threads: int, keys: list[str] | None = None) -> dict:
    """The (objective, steps) runs of one domain and seed named by `keys` ("sigreg@300"; default: all), and the
    random-init probe, in this process."""
    import torch
    from jepa_core.domain import get_domain
    from jepa_core.evaluation import evaluate_encoder
    from jepa_core.processing import load_processor
    from transformers import AutoConfig, AutoModel

    domain, runs, counts = get_domain(name), {}, step_counts(name, scale, multiple)
    keys = keys or [f"{objective}@{steps}" for objective in OBJECTIVES for steps in counts]
    with tempfile.TemporaryDirectory() as tmp:
        for key in keys:
            objective, steps = key.split("@")
            run = pretrain_and_probe(name, seed, int(steps), threads, Path(tmp, f"{objective}-{steps}"),
                                     [f"objective={objective}"])  # fmt: skip
            runs[key] = {field: run[field] for field in ("headline", "rankme", "seconds")}
            if objective == "sigreg":
                config = AutoConfig.from_pretrained(run["output_dir"])
                runs[key].update(sigreg_embeddings=config.sigreg_embeddings, sigreg_view=config.sigreg_view)
        torch.manual_seed(seed)  # as `jepa demo`: a fresh encoder of the run's config, the run's processor
        encoder = AutoModel.from_pretrained(run["output_dir"])
        processor = load_processor(run["output_dir"], domain.processor_class)
        random_init = evaluate_encoder(domain, type(encoder)(encoder.config), processor)
    return {"metric": run["metric"], "steps": counts, "random_init": random_init.headline_value, "runs": runs}


def run_worker(name: str, seed: int, args: argparse.Namespace) -> dict | None:
    """The worker's result for (name, seed): the runs saved in `args.results`, the missing ones (unless
    `--saved-only`) run in a fresh process and saved there with them."""
    path = Path(args.results) / f"{name}-{seed}.json"
    saved = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    keys = [f"{o}@{s}" for o in OBJECTIVES for s in step_counts(name, args.scale, args.multiple)]
    missing = [key for key in keys if key not in saved["runs"]]
    if not missing:
        return {**saved, "seed": seed}
    if args.saved_only:
        return None
    options = ["--scale", str(args.scale), "--multiple", str(args.multiple), "--threads", str(args.threads)]
    result = in_fresh_process("experiments.sigreg.table", [name, str(seed), *options, "--runs", *missing])
    result["runs"] = {key: {**saved["runs"], **result["runs"]}[key] for key in keys}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result) + "\n")
    print(f"{name} seed {seed}: {path.read_text().strip()}", flush=True)
    return {**result, "seed": seed}


def cell(values: list[float | None], digits: int = 3) -> str:
    """Mean ± half the range (the mean alone for one value)."""
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    mean = f"{np.mean(values):.{digits}f}"
    return mean if len(values) == 1 else f"{mean} ± {(max(values) - min(values)) / 2:.{digits}f}"


def sigreg_input(run: dict) -> str:
    """What SIGReg saw in a run: pooled or per-token embeddings, of the context view where not of the full input
    (runs saved before `sigreg_view` existed were of the full input)."""
    view = run.get("sigreg_view", "full")
    return run.get("sigreg_embeddings", "–") + ("" if view == "full" else f" ({view} view)")


def table(results: dict[str, list[dict]], multiple: int) -> str:
    header = (f"| domain | headline metric | steps | seeds | random init | EMA | EMA {multiple}× | SIGReg | SIGReg "
              f"{multiple}× | RankMe EMA / {multiple}× | RankMe SIGReg / {multiple}× | SIGReg on |")  # fmt: skip
    lines = [header, "|" + "---|" * 12]
    for name, per_seed in results.items():
        short, long = per_seed[0]["steps"]
        runs = {key: {field: [r["runs"][key][field] for r in per_seed] for field in ("headline", "rankme")}
                for key in per_seed[0]["runs"]}  # fmt: skip
        heads = [cell(runs[f"{o}@{s}"]["headline"]) for o in OBJECTIVES for s in (short, long)]
        ranks = [" / ".join(cell(runs[f"{o}@{s}"]["rankme"], 1) for s in (short, long)) for o in OBJECTIVES]
        random_init = cell([r["random_init"] for r in per_seed])
        seeds = " ".join(str(r["seed"]) for r in per_seed)
        embeddings = sorted({sigreg_input(run) for r in per_seed for key, run in r["runs"].items()
                             if key.startswith("sigreg")})  # fmt: skip
        lines.append(f"| {name} | {per_seed[0]['metric']} | {short} / {long} | {seeds} | {random_init} | "
                     + " | ".join(heads + ranks + [", ".join(embeddings)]) + " |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", nargs="+", default=list(DOMAINS), choices=DOMAINS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every step count (smoke runs: < 1)")
    parser.add_argument("--multiple", type=int, default=4, help="the longer run's steps, in demo step counts")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--jobs", type=int, default=1, help="workers run side by side (one per core)")
    parser.add_argument("--results", help="folder of per-(domain, seed) results (default: results/ at scale 1)")
    parser.add_argument("--saved-only", action="store_true", help="run nothing: the table of the saved results")
    parser.add_argument("--no-readme", action="store_true", help="print the table only")
    parser.add_argument("--worker", nargs=2, metavar=("DOMAIN", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--runs", nargs="+", help=argparse.SUPPRESS)  # the worker's runs, e.g. sigreg@300
    args = parser.parse_args(argv)
    if args.worker:
        name, seed = args.worker[0], int(args.worker[1])
        print(json.dumps(worker(name, seed, args.scale, args.multiple, args.threads, args.runs)))
        return

    if args.results is None:
        args.results = Path(__file__).parent / "results" if args.scale == 1 else tempfile.mkdtemp()
    pairs = [(name, seed) for seed in args.seeds for name in args.domains]
    with ThreadPoolExecutor(args.jobs) as pool:
        found = dict(zip(pairs, pool.map(lambda pair: run_worker(*pair, args), pairs), strict=True))
    results = {name: [found[name, seed] for seed in args.seeds if found[name, seed]] for name in args.domains}
    results = {name: per_seed for name, per_seed in results.items() if per_seed}
    minutes = sum(run["seconds"] for per_seed in results.values() for r in per_seed for run in r["runs"].values()) / 60
    command = "uv run --no-sync python -m experiments.sigreg.table " + " ".join(
        [f"--domains {' '.join(args.domains)}"] * (list(args.domains) != list(DOMAINS))
        + [f"--seeds {' '.join(map(str, args.seeds))}", f"--scale {args.scale:g}", f"--multiple {args.multiple}"]
        + ["--saved-only"] * args.saved_only
    )
    text = (
        "## SIGReg (LeJEPA) vs the EMA recipe\n\n"
        f"Each domain's demo (tiny preset, embedded data, the core's probes) with `--set objective=ema` and "
        f"`--set objective=sigreg`, at the demo's step count and at {args.multiple}× it; headline metric and "
        "RankMe at the last step as mean ± half the range over the seeds listed; SIGReg on: the embeddings SIGReg "
        "saw (the domain's `sigreg_embeddings`: pooled per input or every token; of the full input unless a "
        "`sigreg_view` is named); one "
        f"torch thread per run, {minutes:.0f} min of runs in all. Command: `{command}`.\n\n"
        + table(results, args.multiple)
    )
    print("\n" + text)
    if not args.no_readme:
        write_section("sigreg_table", text, README)


if __name__ == "__main__":
    main()
