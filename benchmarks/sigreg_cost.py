"""Cost of the SIGReg objective against the EMA recipe, per training step, in the same run, for every domain.

Each (domain, objective) pretrains the domain's tiny preset (its own batch size) for 40 steps in a fresh process
(fresh data and masks every step, the trainer's full step: forward, backward, optimizer, EMA update where there is
one, logging), and reports samples/s (from `metrics.json`) and the process's peak RSS. SIGReg drops the EMA update
and the target copy but, since SIGReg needs gradients through the embeddings of the full input, the target pass
runs with autograd (forward and backward) where the EMA recipe runs it without. Prints the figures and rewrites
its section of benchmarks/README.md. Run on an idle machine:
`uv run python benchmarks/sigreg_cost.py [DOMAIN ...]` (default: all eight).
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from readme_section import write_section

STEPS = 40
DOMAINS = ("ijepa", "ajepa", "ecg-jepa", "brain-jepa", "sar-jepa", "tjepa", "stem-jepa", "tsjepa")


def measure(domain: str, objective: str, folder: Path) -> tuple[float, float]:
    args = ["pretrain", domain, "--preset", "tiny", "--max-steps", str(STEPS), "--save-every", "100000",
            "--output-dir", str(folder), "--set", f"objective={objective}"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "jepa_core", *args], check=True, capture_output=True, env=env)
    train = json.loads((folder / "metrics.json").read_text())["train"]
    return train["samples_per_second"], train["peak_memory_mb"]


def main() -> None:
    domains = sys.argv[1:] or list(DOMAINS)
    lines = ["| domain | EMA samples/s | SIGReg samples/s | SIGReg / EMA | EMA peak RSS (MB) | SIGReg peak RSS (MB) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for domain in domains:
            (ema_rate, ema_rss), (sig_rate, sig_rss) = (
                measure(domain, o, Path(tmp) / domain / o) for o in ("ema", "sigreg")
            )
            lines.append(f"| {domain} | {ema_rate:.1f} | {sig_rate:.1f} | {sig_rate / ema_rate:.2f}× | {ema_rss:.0f} | "
                         f"{sig_rss:.0f} |")  # fmt: skip
            print(lines[-1], flush=True)
    text = (
        "## SIGReg vs EMA step cost (`benchmarks/sigreg_cost.py`)\n\n"
        f"`jepa pretrain DOMAIN --preset tiny --set objective=…` at the preset's batch size, {STEPS} steps, fresh "
        "data and masks every step, 2-core CPU, each run in its own process (peak RSS of that process). SIGReg has no "
        "EMA update, but its full-input pass runs forward *and backward* (SIGReg's gradient reaches the encoder "
        "through it), where the EMA teacher's runs forward only, without autograd: so a SIGReg step costs more "
        "wherever the encoder dominates the step. Command: `uv run python benchmarks/sigreg_cost.py`.\n\n"
        + "\n".join(lines)
    )
    print(text)
    write_section("sigreg_cost", text)


if __name__ == "__main__":
    main()
