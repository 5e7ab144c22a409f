"""Cost of the SIGReg objective against the EMA recipe, per training step, in the same run, for every domain.

Each (domain, objective) pretrains the domain's tiny preset (its own batch size) for 40 steps in a fresh process
(fresh data and masks every step, the trainer's full step: forward, backward, optimizer, EMA update where there is
one, logging), and reports samples/s (from `metrics.json`) and the process's peak RSS. SIGReg drops the EMA update
and the target copy but, with SIGReg on the embeddings of the full input (`sigreg_view=full`), the target pass runs
with autograd (forward and backward) where the EMA recipe runs it without; `sigreg_view=context` (SIGReg on the
context encoder's states) runs it without autograd as well. Prints the figures and rewrites
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
RUNS = (["objective=ema"], ["objective=sigreg", "sigreg_view=full"], ["objective=sigreg", "sigreg_view=context"])
DOMAINS = ("ijepa", "ajepa", "ecg-jepa", "brain-jepa", "sar-jepa", "tjepa", "stem-jepa", "tsjepa")


def measure(domain: str, settings: list[str], folder: Path) -> tuple[float, float]:
    args = ["pretrain", domain, "--preset", "tiny", "--max-steps", str(STEPS), "--save-every", "100000",
            "--output-dir", str(folder)] + [f"--set={setting}" for setting in settings]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "jepa_core", *args], check=True, capture_output=True, env=env)
    train = json.loads((folder / "metrics.json").read_text())["train"]
    return train["samples_per_second"], train["peak_memory_mb"]


def main() -> None:
    domains = sys.argv[1:] or list(DOMAINS)
    lines = ["| domain | EMA samples/s | SIGReg (full view) | SIGReg (context view) | full / EMA | context / EMA | "
             "peak RSS (MB) EMA / full / context |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for domain in domains:
            (ema, ema_rss), (full, full_rss), (context, context_rss) = (
                measure(domain, settings, Path(tmp) / domain / str(i)) for i, settings in enumerate(RUNS)
            )
            lines.append(f"| {domain} | {ema:.1f} | {full:.1f} | {context:.1f} | {full / ema:.2f}× | "
                         f"{context / ema:.2f}× | {ema_rss:.0f} / {full_rss:.0f} / {context_rss:.0f} |")  # fmt: skip
            print(lines[-1], flush=True)
    text = (
        "## SIGReg vs EMA step cost (`benchmarks/sigreg_cost.py`)\n\n"
        f"`jepa pretrain DOMAIN --preset tiny --set objective=…` at the preset's batch size, {STEPS} steps, fresh "
        "data and masks every step, 2-core CPU, each run in its own process (peak RSS of that process), the three "
        "runs of a domain one after the other. SIGReg has no EMA update, but with SIGReg on the full-input pass "
        "(`sigreg_view=full`, the default) that pass runs forward *and backward*, where the EMA teacher's runs "
        "forward only, without autograd; with `sigreg_view=context` SIGReg regularises the context encoder's states "
        "and the full-input pass (stop-gradient targets) runs without autograd too. "
        "Command: `uv run python benchmarks/sigreg_cost.py`.\n\n" + "\n".join(lines)
    )
    print(text)
    write_section("sigreg_cost", text)


if __name__ == "__main__":
    main()
