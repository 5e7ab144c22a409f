"""Cost of the SIGReg objective against the EMA recipe, per training step, in the same run, for every domain.

For each domain's tiny preset (its own batch size) three models are built as `jepa pretrain` builds them: the EMA
recipe, SIGReg on the full-input pass (`sigreg_view=full`) and SIGReg on the context encoder's states
(`sigreg_view=context`). Step time: their training steps (forward, backward, AdamW, the EMA update where there is
one) interleaved step by step in this process, one torch thread, CPU time of the step alone, fresh data and masks
every step (drawn and collated outside the timed part, the same for all three); the interleaving and the CPU clock
keep other work on the machine out of the ratios. Memory: each variant's `jepa pretrain` run of a few steps in a
fresh process, its peak RSS. SIGReg drops the EMA update but, with SIGReg on the full input, the full-input pass
runs with autograd (forward and backward) where the EMA teacher's runs forward only; with the context view it runs
without autograd too. Prints the figures and rewrites its section of benchmarks/README.md. Run on an idle machine:
`uv run python benchmarks/sigreg_cost.py [DOMAIN ...]` (default: all eight).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from jepa_core.ema import ema_update
from jepa_core.training import build_optimizer
from jepa_core.training.trainer import LABEL_KEYS
from pretraining_setup import build_pretraining
from readme_section import write_section

WARMUP, STEPS, RSS_STEPS = 3, 30, 10
RUNS = (["objective=ema"], ["objective=sigreg", "sigreg_view=full"], ["objective=sigreg", "sigreg_view=context"])
DOMAINS = ("ijepa", "ajepa", "ecg-jepa", "brain-jepa", "sar-jepa", "tjepa", "stem-jepa", "tsjepa")


def step_times(name: str) -> tuple[list[float], int]:
    """Milliseconds of CPU time per step of each variant in `RUNS`, the variants' steps interleaved; the batch size."""
    torch.set_num_threads(1)
    variants, dataset = [], None
    for settings in RUNS:
        model, dataset, collator, config = build_pretraining(name, "tiny", settings, dataset=dataset)
        variants.append((model, build_optimizer(model, config.learning_rate, config.weight_decay), collator))
    size, draws = config.train_batch_size, torch.Generator().manual_seed(0)
    seconds = [0.0] * len(variants)
    for step in range(WARMUP + STEPS):
        for index, (model, optimizer, collator) in enumerate(variants):
            samples = [dataset[i] for i in torch.randint(len(dataset), (size,), generator=draws).tolist()]
            inputs = {k: v for k, v in collator(samples).items() if k not in LABEL_KEYS}
            started = time.process_time()
            model(**inputs).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            ema_update(model.momentum_pairs(), 0.996)
            seconds[index] += (time.process_time() - started) * (step >= WARMUP)
    return [1000 * s / STEPS for s in seconds], size


def peak_rss(domain: str, settings: list[str], folder: Path) -> float:
    """Peak RSS (MB) of a short `jepa pretrain` run in a fresh process."""
    args = ["pretrain", domain, "--preset", "tiny", "--max-steps", str(RSS_STEPS), "--save-every", "100000",
            "--output-dir", str(folder)] + [f"--set={setting}" for setting in settings]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "jepa_core", *args], check=True, capture_output=True, env=env)
    return json.loads((folder / "metrics.json").read_text())["train"]["peak_memory_mb"]


def main() -> None:
    domains = sys.argv[1:] or list(DOMAINS)
    lines = ["| domain | batch | EMA ms/step | SIGReg, full view | SIGReg, context view | rate vs EMA, full / "
             "context | peak RSS (MB) EMA / full / context |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    # the memory runs first, while this process is small: a child's peak RSS includes its parent's at the fork
    with tempfile.TemporaryDirectory() as tmp:
        peaks = {d: [peak_rss(d, settings, Path(tmp) / d / str(i)) for i, settings in enumerate(RUNS)] for d in domains}
    for domain, rss in peaks.items():
        (ema, full, context), size = step_times(domain)
        lines.append(f"| {domain} | {size} | {ema:.1f} | {full:.1f} | {context:.1f} | {ema / full:.2f}× / "
                     f"{ema / context:.2f}× | {' / '.join(f'{r:.0f}' for r in rss)} |")  # fmt: skip
        print(lines[-1], flush=True)
    text = (
        "## SIGReg vs EMA step cost (`benchmarks/sigreg_cost.py`)\n\n"
        "Each domain's tiny preset at its batch size, three models built as `jepa pretrain` builds them: the EMA "
        "recipe, SIGReg on the full-input pass (`sigreg_view=full`, the core default) and SIGReg on the context "
        "encoder's states (`sigreg_view=context`). Step time: forward, backward, AdamW and the EMA update where there "
        f"is one, the three models' steps interleaved, {STEPS} timed steps each after {WARMUP}, one torch thread, "
        "CPU time of the step alone, fresh data and masks every step (drawn and collated outside the timed part). "
        "Rate vs EMA: EMA step time / SIGReg step time (above 1× SIGReg is cheaper). Peak RSS: a "
        f"{RSS_STEPS}-step `jepa pretrain` run of each in a fresh process. SIGReg has no EMA update, but with SIGReg "
        "on the full input that pass runs forward *and backward*, where the EMA teacher's runs forward only; with "
        "the context view it runs without autograd too. Command: `uv run python benchmarks/sigreg_cost.py`.\n\n"
        + "\n".join(lines)
    )
    print(text)
    write_section("sigreg_cost", text)


if __name__ == "__main__":
    main()
