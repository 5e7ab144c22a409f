"""Cost of the SIGReg objective against the EMA recipe, per training step, in the same run.

Each objective pretrains `DOMAIN`'s tiny preset for 40 steps in its own fresh process (fresh data and masks every
step, the trainer's full step: forward, backward, optimizer, EMA update where there is one, logging), and reports
samples/s (from `metrics.json`) and the process's peak RSS. SIGReg drops the target encoder's forward pass and the
EMA update but runs the encoder with gradients on the full input and a projector. Prints the figures and
rewrites its section of benchmarks/README.md. Run on an idle machine:
`uv run python benchmarks/sigreg_cost.py [DOMAIN]` (default ijepa).
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from readme_section import write_section

STEPS, BATCH = 40, 16


def measure(domain: str, objective: str, folder: Path) -> tuple[float, float]:
    args = ["pretrain", domain, "--preset", "tiny", "--max-steps", str(STEPS), "--batch-size", str(BATCH),
            "--save-every", "100000", "--output-dir", str(folder), "--set", f"objective={objective}"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "jepa_core", *args], check=True, capture_output=True, env=env)
    train = json.loads((folder / "metrics.json").read_text())["train"]
    return train["samples_per_second"], train["peak_memory_mb"]


def main() -> None:
    domain = sys.argv[1] if len(sys.argv) > 1 else "ijepa"
    with tempfile.TemporaryDirectory() as tmp:
        rows = {objective: measure(domain, objective, Path(tmp) / objective) for objective in ("ema", "sigreg")}
    (ema_rate, ema_rss), (sig_rate, sig_rss) = rows["ema"], rows["sigreg"]
    text = (
        f"## SIGReg vs EMA step cost (`benchmarks/sigreg_cost.py`)\n\n"
        f"`jepa pretrain {domain} --preset tiny --set objective=…`, batch {BATCH}, {STEPS} steps, fresh data and "
        "masks every step, 2-core CPU, each objective in its own process (peak RSS of that process). "
        f"Command: `uv run python benchmarks/sigreg_cost.py {domain}`.\n\n"
        "| objective | samples/s | peak RSS (MB) |\n|---|---|---|\n"
        f"| ema | {ema_rate:.1f} | {ema_rss:.0f} |\n| sigreg | {sig_rate:.1f} | {sig_rss:.0f} |\n\n"
        f"SIGReg / EMA throughput: {sig_rate / ema_rate:.2f}×."
    )
    print(text)
    write_section("sigreg_cost", text)


if __name__ == "__main__":
    main()
