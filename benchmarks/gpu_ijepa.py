"""I-JEPA pretraining steps on a GPU: ViT-B/16 and ViT-L/16 at 224 px in bf16 (SDPA flash attention), with and
without torch.compile, fresh data and fresh masks every step.

For each model and mode: samples/s over the timed steps, model FLOPs of one step (torch.utils.flop_counter,
forward + backward + EMA), MFU = achieved FLOP/s over the card's peak dense bf16 rate, and peak GPU memory. The
step is the trainer's: context encoder → predictor vs the EMA target, AdamW, EMA update; images and masks are
drawn anew every step (images on the GPU, masks by the real collator's sampler on the CPU, as in training). Prints
the figures and rewrites its section of benchmarks/README.md with the card's name.

Run on a lent GPU machine: `python benchmarks/gpu_ijepa.py [--batch 128] [--steps 20] [--peak-tflops 989]`
(peak: H100 SXM dense bf16 989 TFLOP/s; H200 the same chip rate; pass the card's figure otherwise).
"""

import argparse
import time

import torch
from ijepa import ImageJepaConfig, ImageJepaForPreTraining, ImageJepaMaskCollator
from jepa_core.ema import ema_update
from jepa_core.training import build_optimizer
from readme_section import write_section
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode


def batches(config: ImageJepaConfig, batch_size: int, seed: int = 0):
    """Fresh images and fresh masks every step. The images are drawn on the GPU (in training, loader workers prepare
    them beside the step); the masks come from the real collator's sampler on the CPU, in this process as in the
    trainer, pinned and copied without waiting, so that drawing the next step's masks overlaps the GPU's work."""
    collator = ImageJepaMaskCollator(config, seed=seed)
    shape = (batch_size, 3, config.image_size, config.image_size)
    while True:
        masks = collator.sample_masks({"pixel_values": torch.empty(batch_size)})
        batch = {k: v.pin_memory().to("cuda", non_blocking=True) for k, v in masks.items()}
        yield {"pixel_values": torch.randn(shape, device="cuda"), **batch}


def make_step(model, optimizer):
    def step(batch: dict) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema_update(model.momentum_pairs(), 0.996)
        return loss.detach()

    return step


def measure(preset: str, batch_size: int, steps: int, compiled: bool, peak_flops: float) -> dict:
    torch.manual_seed(0)
    config = ImageJepaConfig.from_preset(preset)
    model = ImageJepaForPreTraining(config).cuda().train()
    optimizer = build_optimizer(model, 1e-4, 0.04, (0.9, 0.95), 1e-8)  # fused AdamW on CUDA
    if compiled:
        model.context_encoder.compile(dynamic=True)
        model.predictor.compile(dynamic=True)
        model.target.encoder.compile(dynamic=True)
    step, data = make_step(model, optimizer), batches(config, batch_size)
    with FlopCounterMode(display=False) as counter:
        step(next(data))
    flops = counter.get_total_flops()
    for _ in range(5 if compiled else 2):  # warm-up (compilation of the shape buckets met so far)
        step(next(data))
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(steps):
        loss = step(next(data))
    loss.item()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / steps
    return {
        "preset": preset, "compiled": compiled, "samples_per_s": batch_size / seconds,
        "gflop_per_step": flops / 1e9, "mfu": flops / seconds / peak_flops,
        "peak_gb": torch.cuda.max_memory_allocated() / 2**30,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--presets", nargs="+", default=["vit_base_16", "vit_large_16"])
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("this benchmark needs a CUDA GPU")
    torch.backends.cuda.matmul.allow_tf32 = True
    rows = []
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]):
        for preset in args.presets:
            for compiled in (False, True):
                rows.append(measure(preset, args.batch, args.steps, compiled, args.peak_tflops * 1e12))
                print(rows[-1], flush=True)
    card = torch.cuda.get_device_name()
    lines = ["| model | compile | samples/s | GFLOP/step | bf16 MFU | peak memory (GB) |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {r['preset']} | {'yes' if r['compiled'] else 'no'} | {r['samples_per_s']:.0f} | {r['gflop_per_step']:.0f} "
        f"| {100 * r['mfu']:.1f} % | {r['peak_gb']:.1f} |"
        for r in rows
    ]
    text = (
        f"## I-JEPA on a GPU (`benchmarks/gpu_ijepa.py`)\n\n{card}, torch {torch.__version__}, batch {args.batch}, "
        f"224 px, bf16 autocast, SDPA flash attention, fused AdamW, EMA included, fresh images and masks every step; "
        f"MFU against {args.peak_tflops:.0f} TFLOP/s dense bf16. Command: `python benchmarks/gpu_ijepa.py`.\n\n"
        + "\n".join(lines)
    )
    print(text)
    if not args.no_readme:
        write_section("gpu_ijepa", text)


if __name__ == "__main__":
    main()
