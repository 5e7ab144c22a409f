"""The TS-JEPA capacity × devices sweep: closed-loop control of parallel cart-poles over the shared uplink,
TS-JEPA against the baselines, with one pretrained model and one set of actors reused across the whole grid.

Run from the repository root:

    .venv/bin/python -m experiments.tsjepa_sweep.study --control-steps 300 --seeds 2 \\
        --plot experiments/tsjepa_sweep/results/sweep.png --readme experiments/tsjepa_sweep/README.md

Without `--model` it pretrains the tiny preset first (≈ 0.5 min on one CPU thread). Each cell is the mean over
`--seeds` closed-loop runs; a policy whose packet does not fit the capacity is reported as not fitting.
"""

import argparse
import math
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from jepa_core.processing import load_processor
from jepa_core.training import TrainingArguments, pretrain
from transformers import AutoModel
from tsjepa import (
    FutureWindowCollator,
    TimeSeriesJepaConfig,
    TimeSeriesJepaForPreTraining,
    TimeSeriesJepaModel,
    TimeSeriesJepaProcessor,
)
from tsjepa.channel import SCHEDULERS
from tsjepa.data import default_dataset
from tsjepa.evaluation import control_loop, fit_actors, packet_bits

POLICY_NAMES = {
    "tsjepa": "TS-JEPA (predictor)",
    "tsjepa_hold": "TS-JEPA, hold last command",
    "raw_window": "raw window, hold last command",
    "raw_reading": "raw reading, hold last command",
    "expert": "LQR expert, perfect link",
}
METRICS = ("command_nmae", "within_tolerance", "upright", "bits_per_step")
TABLE_START, TABLE_END = "<!-- sweep:start -->", "<!-- sweep:end -->"
PROG = "experiments.tsjepa_sweep.study"


def pretrain_model(config: TimeSeriesJepaConfig, output_dir: str, seed: int = 0) -> TimeSeriesJepaModel:
    """Pretrain `config` on the embedded cart-poles and load the exported model back."""
    args = TrainingArguments.from_config(config, output_dir, show_progress=False, seed=seed)
    torch.manual_seed(seed)
    pretrain(
        TimeSeriesJepaForPreTraining(config),
        default_dataset("train", config),
        FutureWindowCollator.from_config(config, seed),
        args,
    )
    return AutoModel.from_pretrained(output_dir).eval()


def run_sweep(
    model: TimeSeriesJepaModel,
    capacities: list[int],
    devices: list[int],
    policies: tuple[str, ...] = tuple(POLICY_NAMES),
    seeds: tuple[int, ...] = (0,),
    packet_loss: float | None = None,
    processor: TimeSeriesJepaProcessor | None = None,
) -> list[dict]:
    """One row per (devices, capacity, policy): the closed-loop metrics averaged over seeds, or `fits=False`.

    `processor`: the one saved with the model (default: fitted on the embedded train split, which is the same)."""
    config = model.config
    loss = config.packet_loss if packet_loss is None else packet_loss
    train = default_dataset("train", config, processor)
    actors, processor = fit_actors(model, train, config), train.processor
    rows = []
    for num_devices in devices:
        for capacity in capacities:
            for policy in policies:
                row = {"devices": num_devices, "capacity_bits": capacity, "policy": policy}
                row["packet_bits"] = packet_bits(policy, config)
                row["fits"] = capacity >= row["packet_bits"]
                if not row["fits"]:
                    rows.append({**row, **dict.fromkeys(METRICS, math.nan), "bits_per_step": 0.0})
                    continue
                actor = actors.get("tsjepa" if policy.startswith("tsjepa") else policy)
                runs = [
                    control_loop(policy, model, actor, processor, config, capacity, num_devices, loss, seed)
                    for seed in seeds
                ]
                rows.append({**row, **{name: float(np.mean([r[name] for r in runs])) for name in METRICS}})
    return rows


def markdown_table(rows: list[dict]) -> str:
    """Wide table: one line per (devices, capacity), one cell per policy: command NMAE / share within tolerance /
    share of poles upright throughout / bits sent per step."""
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    lines = [
        "| devices | capacity (bits/step) | " + " | ".join(POLICY_NAMES.get(p, p) for p in policies) + " |",
        "|---|---|" + "---|" * len(policies),
    ]
    cells: dict[tuple[int, int], list[str]] = {}
    for r in rows:
        cell = (
            f"{r['command_nmae']:.2f} / {r['within_tolerance']:.2f} / {r['upright']:.2f} / {r['bits_per_step']:.0f}"
            if r["fits"]
            else f"packet of {r['packet_bits']} bits does not fit"
        )
        cells.setdefault((r["devices"], r["capacity_bits"]), []).append(cell)
    lines += [f"| {n} | {c} | " + " | ".join(v) + " |" for (n, c), v in cells.items()]
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> None:
    """Rows = device counts; columns = command NMAE, share within tolerance, share upright, bits sent; x = capacity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    devices = sorted({r["devices"] for r in rows})
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    capacities = sorted({r["capacity_bits"] for r in rows})
    shown = (
        ("command_nmae", "command NMAE"),
        ("within_tolerance", "share within tolerance"),
        ("upright", "share upright"),
        ("bits_per_step", "bits sent / step"),
    )
    figure, axes = plt.subplots(len(devices), len(shown), figsize=(14, 2.6 * len(devices)), squeeze=False)
    for i, num_devices in enumerate(devices):
        for j, (metric, label) in enumerate(shown):
            ax = axes[i, j]
            for policy in policies:
                picked = [r for r in rows if r["devices"] == num_devices and r["policy"] == policy and r["fits"]]
                ax.plot(
                    [r["capacity_bits"] for r in picked],
                    [r[metric] for r in picked],
                    "o-",
                    label=POLICY_NAMES.get(policy, policy),
                )
            if metric == "bits_per_step":
                ax.plot(capacities, capacities, "k:", label="capacity")
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xticks(capacities, [str(c) for c in capacities])
            ax.set_title(f"{num_devices} devices: {label}", fontsize=9)
            ax.set_xlabel("uplink capacity (bits / step)", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0, -1].legend(fontsize=7)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=70)
    plt.close(figure)


def update_readme(path: str, table: str, command: str) -> None:
    """Replace the text between the sweep markers of a README with the command and the table."""
    text = Path(path).read_text()
    if TABLE_START not in text or TABLE_END not in text:
        raise ValueError(f"{path} has no {TABLE_START} … {TABLE_END} markers; add them where the table should go")
    block = f"{TABLE_START}\n```bash\n{command}\n```\n\n{table}\n{TABLE_END}"
    pattern = re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END)
    Path(path).write_text(re.sub(pattern, lambda _: block, text, flags=re.S))


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a run folder of `jepa pretrain tsjepa` (default: pretrain the preset)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--capacities", type=int, nargs="+", default=[300, 600, 1200, 2400, 4800])
    parser.add_argument("--devices", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--seeds", type=int, default=2, help="closed-loop runs per cell")
    parser.add_argument("--packet-loss", type=float, default=None, help="default: the config's packet_loss")
    parser.add_argument("--control-steps", type=int, default=None, help="default: the config's control_steps")
    parser.add_argument("--scheduler", choices=SCHEDULERS, default=None, help="default: the config's scheduler")
    parser.add_argument("--plot", help="PNG to write")
    parser.add_argument("--readme", help="README whose sweep block gets the table")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    processor = None
    if args.model:
        model = TimeSeriesJepaModel.from_pretrained(args.model).eval()
        processor = load_processor(args.model, TimeSeriesJepaProcessor)
    else:
        with tempfile.TemporaryDirectory() as folder:
            model = pretrain_model(TimeSeriesJepaConfig.from_preset(args.preset), folder)
    if args.control_steps:
        model.config.control_steps = args.control_steps
    if args.scheduler:
        model.config.scheduler = args.scheduler
    rows = run_sweep(
        model, args.capacities, args.devices, seeds=tuple(range(args.seeds)), packet_loss=args.packet_loss,
        processor=processor,
    )  # fmt: skip
    table = markdown_table(rows)
    print(table)
    if args.plot:
        plot(rows, args.plot)
    if args.readme:
        command = f"python -m {PROG} " + " ".join(sys.argv[1:] if argv is None else argv)
        update_readme(args.readme, table, command)
    return rows


if __name__ == "__main__":
    main()
