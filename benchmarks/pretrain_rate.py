"""End-to-end `jepa pretrain` rate and time to first step, for every installed domain's tiny preset and for I-JEPA
ViT-Tiny/16 at 224 px.

Each run is `python -m jepa_core pretrain DOMAIN --preset tiny --max-steps N` in its own fresh process, on the
domain's embedded data: data loading, masks, forward, backward, AdamW, EMA, logging, RankMe and the final
checkpoint all count. From the run's metrics.json: `samples_per_second` (the steps of the run, from the first step
to the final checkpoint) and `time_to_first_step_s` (process start → first optimizer step done: imports, data,
model build, first batch and step). Model FLOPs per step (forward + backward, torch.utils.flop_counter) are counted
in this process first, on the same model and collator at the run's batch size (mean of a few batches, masks vary);
their rate is given as a share of the dense fp32 matmul rate, measured between the runs (best 2048² product).
Python's bytecode cache is warm for the runs, as after a `pip install`: this process writes it (to a temporary
`PYTHONPYCACHEPREFIX`, even where PYTHONDONTWRITEBYTECODE is set) while it counts the FLOPs, and the runs read it.

Run on an idle machine: `uv run python benchmarks/pretrain_rate.py [--steps 50] [--domains ijepa tjepa]
[--no-readme]`; prints the table and rewrites its section of benchmarks/README.md.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYCACHE = tempfile.mkdtemp(prefix="jepa-pycache-")
sys.pycache_prefix, sys.dont_write_bytecode = PYCACHE, False  # before the heavy imports, which write the cache

# I-JEPA ViT-Tiny/16 at 224 px with the predictor of benchmarks/ijepa_step.py, batch 8.
VIT_TINY = ("ijepa", "vit_tiny_16", 8, ["pred_hidden_size=192", "pred_num_hidden_layers=6"])


def matmul_rate(size: int = 2048, repeats: int = 3) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def step_flops(domain_name: str, preset: str, batch: int | None, sets: list[str], draws: int = 3) -> tuple[float, int]:
    """Mean forward + backward FLOPs of one step and the batch size, built as `jepa pretrain` builds the run."""
    from jepa_core.training.trainer import LABEL_KEYS
    from pretraining_setup import build_pretraining
    from torch.utils.flop_counter import FlopCounterMode

    model, dataset, collator, config = build_pretraining(domain_name, preset, sets, {"batch_size": batch})
    size = config.train_batch_size
    total = 0
    for draw in range(draws):
        samples = [dataset[(draw * size + i) % len(dataset)] for i in range(size)]
        inputs = {k: v for k, v in collator(samples).items() if k not in LABEL_KEYS}
        with FlopCounterMode(display=False) as counter:
            model(**inputs).loss.backward()
        model.zero_grad(set_to_none=True)
        total += counter.get_total_flops()
    return total / draws, size


def run_pretrain(
    domain: str, preset: str, batch: int | None, sets: list[str], steps: int, folder: Path, threads: int | None
) -> dict:
    """One `jepa pretrain` in a fresh process; its train metrics plus the command's wall time."""
    command = [sys.executable, "-m", "jepa_core", "pretrain", domain, "--preset", preset, "--max-steps", str(steps),
               "--save-every", "100000", "--output-dir", str(folder)]  # fmt: skip
    command += ["--batch-size", str(batch)] if batch else []
    command += ["--threads", str(threads)] if threads else []
    for value in sets:
        command += ["--set", value]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(HF_HUB_OFFLINE="1", TQDM_DISABLE="1", PYTHONPYCACHEPREFIX=PYCACHE)
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if finished.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{finished.stderr[-3000:]}")
    train = json.loads((folder / "metrics.json").read_text())["train"]
    return {**train, "command_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50, help="optimizer steps of each tiny run")
    parser.add_argument("--vit-steps", type=int, default=20, help="optimizer steps of the ViT-Tiny/16 run")
    parser.add_argument("--domains", nargs="+", help="default: every installed domain")
    parser.add_argument("--no-vit", action="store_true", help="skip the I-JEPA ViT-Tiny/16 run")
    parser.add_argument("--threads", type=int, help="torch threads of the runs and of this process (default: torch's)")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    import torch
    from jepa_core.domain import installed_domains

    if args.threads:
        torch.set_num_threads(args.threads)
    from readme_section import write_section

    runs = [(name, "tiny", None, [], args.steps) for name in args.domains or sorted(installed_domains())]
    if not args.no_vit:
        runs.append((*VIT_TINY, args.vit_steps))
    counted, failures = {}, []
    for name, preset, batch, sets, _ in runs:
        try:
            counted[name, preset] = step_flops(name, preset, batch, sets)
        except (RuntimeError, ValueError, ImportError) as error:  # one broken domain must not hide the others
            failures.append(f"| {name} | {preset} | failed: {str(error).strip().splitlines()[-1][:150]} |")
    peak, results = matmul_rate(), []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, preset, batch, sets, steps) in enumerate(runs):
            if (name, preset) not in counted:
                continue
            try:
                train = run_pretrain(name, preset, batch, sets, steps, Path(tmp) / str(index), args.threads)
            except RuntimeError as error:
                print(error, file=sys.stderr, flush=True)
                failures.append(f"| {name} | {preset} | failed: {str(error).strip().splitlines()[-1][:150]} |")
                continue
            peak = max(peak, matmul_rate())
            flops, size = counted[name, preset]
            results.append((name, preset, size, steps, train, flops))
            print(name, preset, {k: train[k] for k in ("samples_per_second", "time_to_first_step_s", "command_s")},
                  f"{flops / 1e9:.2f} GFLOP/step", flush=True)  # fmt: skip
    rows = []
    for name, preset, size, steps, train, flops in results:
        rate = train["samples_per_second"]
        achieved = rate / size * flops
        rows.append(
            f"| {name} | {preset} | {size} | {steps} | {rate:.1f} | {flops / size / 1e9:.3f} | {achieved / 1e9:.1f} | "
            f"{100 * achieved / peak:.1f} % | {train['time_to_first_step_s']:.1f} | {train['command_s']:.1f} |"
        )
    text = "\n".join(
        [
            "## `jepa pretrain` end to end (`benchmarks/pretrain_rate.py`)",
            "",
            f"Each run in a fresh process on the domain's embedded data, {torch.get_num_threads()} threads, torch "
            f"{torch.__version__}: fresh data and masks every step, data loading, forward, backward, AdamW, EMA, "
            "logging, RankMe and the final checkpoint included. samples/s: `train.samples_per_second` of the run's "
            "metrics.json; time to first step: process start → first step done (`train.time_to_first_step_s`: "
            "imports, data, model build, first batch and step), with Python's bytecode cache warm as after a "
            "`pip install`; model FLOPs: forward + backward per step, counted on the same model and collator; fp32 "
            f"matmul rate {peak / 1e9:.0f} GFLOP/s (best 2048² product between the runs). ViT-Tiny/16: 224 px, "
            "predictor 192 wide × 6 deep (as in `ijepa_step.py`). "
            "Command: `uv run python benchmarks/pretrain_rate.py`.",
            "",
            "| domain | preset | batch | steps | samples/s | model GFLOP/sample | achieved GFLOP/s | share of matmul "
            "rate | time to first step (s) | command (s) |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            *failures,
        ]
    )
    print(text)
    if not args.no_readme:
        write_section("pretrain_rate", text)


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(PYCACHE, ignore_errors=True)
