"""Does throughput hold with processes, and is data loading the bottleneck?

1. `jepa pretrain DOMAIN --preset tiny` at one global batch, as 1 process (2 threads) and as 2 CPU processes
   (1 thread each, `configs/accelerate/cpu_2proc.yaml`): samples/s of the training steps from `metrics.json`.
2. The data loader alone (the domain's training set, its collator, the trainer's seeded sampler): samples/s with
   `--num-workers` 0 and 2.
Prints the figures and rewrites its section of benchmarks/README.md. Run on an idle machine:
`uv run python benchmarks/processes_throughput.py [DOMAIN]` (default ijepa).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from readme_section import write_section

ROOT = Path(__file__).resolve().parents[1]
STEPS, BATCH = 40, 16


def training_rate(domain: str, processes: int, folder: Path) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(2 // processes)}
    args = ["pretrain", domain, "--preset", "tiny", "--max-steps", str(STEPS), "--batch-size", str(BATCH),
            "--save-every", "100000", "--output-dir", str(folder), "--threads", str(2 // processes)]  # fmt: skip
    if processes == 1:
        command = [sys.executable, "-m", "jepa_core", *args]
    else:
        config = ROOT / "configs" / "accelerate" / "cpu_2proc.yaml"
        command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), "-m",
                   "jepa_core", *args]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, env=env, cwd=ROOT)
    return json.loads((folder / "metrics.json").read_text())["train"]["samples_per_second"]


def loader_rate(domain_name: str, workers: int, batches: int = 20) -> float:
    from jepa_core.domain import get_domain
    from jepa_core.training.reproducibility import EpochSampler, SeededSamples
    from torch.utils.data import DataLoader

    domain = get_domain(domain_name)
    config = domain.config_class.from_preset("tiny")
    dataset = domain.default_dataset("train", config, None)
    collator = domain.collator(config, 0)
    loader = DataLoader(SeededSamples(dataset, 0), batch_size=BATCH, sampler=EpochSampler(len(dataset), 0),
                        collate_fn=collator.collate_samples, num_workers=workers)  # fmt: skip
    iterator = iter(loader)
    next(iterator)  # worker start-up is not the steady rate
    started = time.perf_counter()
    for _ in range(batches):
        batch = next(iterator)
        collator.sample_masks(batch)
    return batches * BATCH / (time.perf_counter() - started)


def main() -> None:
    domain = sys.argv[1] if len(sys.argv) > 1 else "ijepa"
    with tempfile.TemporaryDirectory() as tmp:
        one, two = (training_rate(domain, n, Path(tmp) / f"p{n}") for n in (1, 2))
    loading = {w: loader_rate(domain, w) for w in (0, 2)}
    text = (
        f"## Processes and data loading (`benchmarks/processes_throughput.py`)\n\n"
        f"`jepa pretrain {domain} --preset tiny`, global batch {BATCH}, {STEPS} steps, on the 2-core CPU: 1 process "
        "with 2 threads vs 2 gloo processes with 1 thread each (`configs/accelerate/cpu_2proc.yaml`); samples/s of "
        "the training steps (`metrics.json`). The loader rows time the domain's training set through the trainer's "
        "seeded sampler and the collator alone (masks included). Command: "
        f"`uv run python benchmarks/processes_throughput.py {domain}`.\n\n"
        "| what | samples/s |\n|---|---|\n"
        f"| training, 1 process | {one:.1f} |\n| training, 2 processes | {two:.1f} |\n"
        f"| data loader, --num-workers 0 | {loading[0]:.1f} |\n| data loader, --num-workers 2 | {loading[2]:.1f} |\n\n"
        f"2 processes / 1 process: {two / one:.2f}×. The loader alone runs at {loading[0] / one:.1f}× the training "
        "rate with no workers."
    )
    print(text)
    write_section("processes_throughput", text)


if __name__ == "__main__":
    main()
