"""Encoder + predictor pretraining-step throughput and peak memory: SDPA attention vs plain softmax(QKᵀ)V.

Size: encoder 192 wide × 12 deep × 3 heads on a 14 × 14 token grid (ViT-Tiny/16 at 224 px), predictor 192 wide
× 6 deep, I-JEPA multi-block masks (4 targets), batch 8, fp32. Each variant runs in its own process so that
peak memory (max RSS on CPU, max allocated on GPU) belongs to it alone. Usage:

    uv run python benchmarks/core_attention.py [--steps 10] [--device cpu|cuda]

Prints the figures and rewrites its section of benchmarks/README.md.
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import torch
from jepa_core.ema import ema_update
from jepa_core.encoder import TransformerEncoder
from jepa_core.layers import Attention, sincos_2d
from jepa_core.losses import jepa_loss
from jepa_core.masks import MultiBlockMaskSampler
from jepa_core.predictor import JepaPredictor
from jepa_core.targets import EmaTarget
from readme_section import write_section

GRID, WIDTH, BATCH = (14, 14), 192, 8


def build(use_sdpa: bool, device: str):
    encoder = TransformerEncoder(WIDTH, 12, 3).to(device)
    predictor = JepaPredictor(WIDTH, 192, 6, 3).to(device)
    target = EmaTarget(encoder)
    for module in list(encoder.modules()) + list(predictor.modules()) + list(target.modules()):
        if isinstance(module, Attention):
            module.use_sdpa = use_sdpa
    return encoder, predictor, target


def run_variant(use_sdpa: bool, steps: int, device: str) -> dict:
    torch.manual_seed(0)
    encoder, predictor, target = build(use_sdpa, device)
    params = list(encoder.parameters()) + list(predictor.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    pos = sincos_2d(*GRID, WIDTH).to(device)
    tokens = torch.randn(BATCH, GRID[0] * GRID[1], WIDTH, device=device)
    sampler, generator = MultiBlockMaskSampler(GRID), torch.Generator().manual_seed(0)

    def step():
        context_indices, target_indices = (t.to(device) for t in sampler(BATCH, generator))
        targets, _ = target({"tokens": tokens + pos}, target_indices)
        context = encoder(tokens + pos, context_indices)
        loss = jepa_loss(predictor(context, context_indices, target_indices, pos), targets, normalize=True)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema_update(target.momentum_pairs(), 0.996)

    step()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    peak_mb = (
        torch.cuda.max_memory_allocated() / 2**20
        if device == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {"samples_per_s": steps * BATCH / seconds, "peak_memory_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--variant", choices=["sdpa", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant == "sdpa", args.steps, args.device)))
        return
    results = {}
    for variant in ["sdpa", "plain"]:
        command = [sys.executable, __file__, "--variant", variant, "--steps", str(args.steps), "--device", args.device]
        results[variant] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    speedup = results["sdpa"]["samples_per_s"] / results["plain"]["samples_per_s"]
    memory = results["sdpa"]["peak_memory_mb"] / results["plain"]["peak_memory_mb"]
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    memory_kind = "max allocated" if args.device == "cuda" else "process max RSS"
    lines = [
        "## jepa-core: SDPA vs plain attention",
        "",
        f"Encoder 192×12 + predictor 192×6, 196 tokens, 4 target blocks, batch {BATCH}, fp32, {args.steps} steps "
        f"on {device}, torch {torch.__version__}. Command: `uv run python benchmarks/core_attention.py`.",
        "",
        f"| attention | samples/s | peak memory (MB, {memory_kind}) |",
        "|---|---|---|",
        *[f"| {v} | {r['samples_per_s']:.1f} | {r['peak_memory_mb']:.0f} |" for v, r in results.items()],
        "",
        f"SDPA / plain: {speedup:.2f}× throughput, {memory:.2f}× peak memory.",
        "",
    ]
    print("\n".join(lines))
    write_section("core_attention", "\n".join(lines))


if __name__ == "__main__":
    main()
