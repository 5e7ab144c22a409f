"""Encoder + predictor pretraining-step throughput and peak memory: SDPA attention vs plain softmax(QKᵀ)V.

Size: encoder 192 wide × 12 deep × 3 heads on a 14 × 14 token grid (ViT-Tiny/16 at 224 px), predictor 192 wide
× 6 deep, I-JEPA multi-block masks (4 targets), batch 8, in fp32 and in bf16 autocast. Each variant runs in its
own process so that peak memory (max RSS on CPU, max allocated on GPU) belongs to it alone. The bf16 rows decide
`Attention`'s "auto" backend (plain attention for reduced precision on CPU). Usage:

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


def build(backend: str, device: str):
    encoder = TransformerEncoder(WIDTH, 12, 3).to(device)
    predictor = JepaPredictor(WIDTH, 192, 6, 3).to(device)
    target = EmaTarget(encoder)
    for module in list(encoder.modules()) + list(predictor.modules()) + list(target.modules()):
        if isinstance(module, Attention):
            module.backend = backend
    return encoder, predictor, target


def run_variant(backend: str, dtype: str, steps: int, device: str) -> dict:
    torch.manual_seed(0)
    encoder, predictor, target = build(backend, device)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bf16")
    params = list(encoder.parameters()) + list(predictor.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    pos = sincos_2d(*GRID, WIDTH).to(device)
    tokens = torch.randn(BATCH, GRID[0] * GRID[1], WIDTH, device=device)
    sampler, generator = MultiBlockMaskSampler(GRID), torch.Generator().manual_seed(0)

    def step():
        context_indices, target_indices = (t.to(device) for t in sampler(BATCH, generator))
        with autocast:
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
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(*args.variant.split("-"), args.steps, args.device)))
        return
    results = {}
    for variant in ["sdpa-fp32", "plain-fp32", "sdpa-bf16", "plain-bf16"]:
        command = [sys.executable, __file__, "--variant", variant, "--steps", str(args.steps), "--device", args.device]
        results[variant] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)

    def ratios(dtype: str) -> str:
        sdpa, plain = results[f"sdpa-{dtype}"], results[f"plain-{dtype}"]
        speed, memory = (sdpa[key] / plain[key] for key in ("samples_per_s", "peak_memory_mb"))
        return f"{dtype}: SDPA / plain {speed:.2f}× throughput, {memory:.2f}× peak memory"

    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    memory_kind = "max allocated" if args.device == "cuda" else "process max RSS"
    lines = [
        "## jepa-core: SDPA vs plain attention",
        "",
        f"Encoder 192×12 + predictor 192×6, 196 tokens, 4 target blocks, batch {BATCH}, {args.steps} steps "
        f"on {device}, torch {torch.__version__}. Command: `uv run python benchmarks/core_attention.py`.",
        "",
        f"| attention-precision | samples/s | peak memory (MB, {memory_kind}) |",
        "|---|---|---|",
        *[f"| {v} | {r['samples_per_s']:.1f} | {r['peak_memory_mb']:.0f} |" for v, r in results.items()],
        "",
        f"{ratios('fp32')}; {ratios('bf16')}.",
        "",
    ]
    print("\n".join(lines))
    write_section("core_attention", "\n".join(lines))


if __name__ == "__main__":
    main()
