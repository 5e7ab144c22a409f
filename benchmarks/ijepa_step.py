"""I-JEPA speed on CPU: the pretraining step and encoder inference against transformers' IJepaModel.

Step: encoder ViT-Tiny/16 (192 wide, 12 deep, 3 heads) at 224 px, predictor 192 wide and 6 deep, 4 target
blocks, batch 8: samples/s, model FLOPs of one step (torch.utils.flop_counter, forward + backward), and the
achieved FLOP/s as a share of this machine's dense matmul rate measured in the same run, in fp32 and bf16
(autocast). Inference: our encoder vs `transformers.IJepaModel` holding the same weights (exported with
`export_to_transformers`): max abs difference and speed ratio.

Run: `.venv/bin/python benchmarks/ijepa_step.py [--steps 10] [--no-readme]`; results replace this script's
section of benchmarks/README.md.
"""

import argparse
import contextlib
import platform
import tempfile
import time

import torch
from ijepa import ImageJepaConfig, ImageJepaForPreTraining, ImageJepaMaskCollator
from ijepa.convert_ijepa import export_to_transformers
from jepa_core.ema import ema_update
from jepa_core.training import build_optimizer
from readme_section import write_section
from torch.utils.flop_counter import FlopCounterMode


def matmul_rate(dtype: torch.dtype, size: int = 2048, seconds: float = 2.0) -> float:
    """Dense matmul FLOP/s of this machine in `dtype` (best of repeated size×size products)."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def _autocast(dtype: torch.dtype):
    return torch.autocast("cpu", dtype=torch.bfloat16) if dtype == torch.bfloat16 else contextlib.nullcontext()


def pretraining_step(steps: int, dtype: torch.dtype, batch_size: int = 8) -> dict:
    config = ImageJepaConfig.from_preset("vit_tiny_16", pred_hidden_size=192, pred_num_hidden_layers=6)
    torch.manual_seed(0)
    model = ImageJepaForPreTraining(config).train()
    optimizer = build_optimizer(model, 1e-4, 0.04)
    samples = [{"pixel_values": torch.randn(3, 224, 224)} for _ in range(batch_size)]
    batch = ImageJepaMaskCollator(config, seed=0)(samples)

    def step() -> None:
        with _autocast(dtype):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema_update(model.momentum_pairs(), 0.996)

    with FlopCounterMode(display=False) as counter:
        with _autocast(dtype):
            loss = model(**batch).loss
        loss.backward()
    optimizer.zero_grad(set_to_none=True)
    flops = counter.get_total_flops()
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - start) / steps
    return {
        "samples_per_s": batch_size / seconds, "flops_per_step": flops, "flops_per_s": flops / seconds,
        "context_tokens": batch["context_indices"].shape[1], "target_tokens": batch["target_indices"].shape[2],
    }  # fmt: skip


@torch.no_grad()
def encoder_inference(repeats: int, batch_size: int = 8) -> dict:
    config = ImageJepaConfig.from_preset("vit_tiny_16")
    torch.manual_seed(0)
    ours = ImageJepaForPreTraining(config).export_encoder().eval()
    with tempfile.TemporaryDirectory() as folder:
        theirs = export_to_transformers(ours, folder).eval()
    pixels = torch.randn(batch_size, 3, 224, 224)
    difference = (ours(pixels).last_hidden_state - theirs(pixels).last_hidden_state).abs().max().item()

    def best_time(model) -> float:
        model(pixels)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(pixels)
            times.append(time.perf_counter() - start)
        return min(times)

    ours_s, theirs_s = best_time(ours), best_time(theirs)
    return {"max_abs_diff": difference, "ours_s": ours_s, "transformers_s": theirs_s, "speedup": theirs_s / ours_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    rows = []
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        peak = matmul_rate(dtype)
        result = pretraining_step(args.steps, dtype)
        share = result["flops_per_s"] / peak
        rows.append(
            f"| {name} | {result['samples_per_s']:.2f} | {result['flops_per_step'] / 1e9:.1f} | "
            f"{result['flops_per_s'] / 1e9:.1f} | {peak / 1e9:.1f} | {100 * share:.0f} % |"
        )
        print(name, result, f"matmul {peak / 1e9:.1f} GFLOP/s, share {100 * share:.0f} %", flush=True)
    inference = encoder_inference(max(3, args.steps))
    print("inference", inference)
    text = "\n".join(
        [
            "## I-JEPA (`benchmarks/ijepa_step.py`)",
            "",
            f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
            f"torch {torch.__version__}. Pretraining step: encoder ViT-Tiny/16 at 224 px, predictor 192 wide × 6 "
            f"deep, 4 target blocks, batch 8, AdamW + EMA included; {args.steps} timed steps; "
            f"{result['context_tokens']} context and 4 × {result['target_tokens']} target tokens per image.",
            "",
            "| precision | samples/s | model GFLOP/step | achieved GFLOP/s | matmul GFLOP/s | share of matmul rate |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"Encoder inference (ViT-Tiny/16, batch 8, 224 px) vs transformers `IJepaModel` with the same weights: "
            f"max abs diff {inference['max_abs_diff']:.1e}, ours {1000 * inference['ours_s']:.0f} ms, transformers "
            f"{1000 * inference['transformers_s']:.0f} ms, speed ratio {inference['speedup']:.2f}×.",
        ]
    )
    if not args.no_readme:
        write_section("ijepa_step", text)
    print(text)


if __name__ == "__main__":
    main()
