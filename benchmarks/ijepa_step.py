"""I-JEPA speed on CPU: the pretraining step and encoder inference against transformers' IJepaModel.

Step: encoder ViT-Tiny/16 (192 wide, 12 deep, 3 heads) at 224 px, predictor 192 wide and 6 deep, 4 target
blocks, batch 8: samples/s, model FLOPs of one step (torch.utils.flop_counter, forward + backward), and the
achieved FLOP/s as a share of this machine's dense matmul rate measured in the same run, in fp32 and bf16
(autocast). Peer in the same run: lightly's I-JEPA modules (`IJEPABackbone` encoder + EMA copy, `IJEPAPredictor`) at
the same sizes, fed the same masks; lightly's predictor reads its input through a `Linear(mlp_dim, ...)`, so its
MLP width must equal the encoder width (192): both predictors use MLP width 192 here (ours: `pred_mlp_ratio=1`).
Inference: our encoder vs `transformers.IJepaModel` holding the same weights (exported with
`export_to_transformers`): max abs difference and speed ratio.

Run: `uv sync --group bench && uv run python benchmarks/ijepa_step.py [--steps 10] [--no-readme]` (without the
`bench` group the lightly rows are skipped); results replace this script's section of benchmarks/README.md.
"""

import argparse
import contextlib
import copy
import importlib.util
import platform
import tempfile
import time
from collections.abc import Callable

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


def step_config(pred_mlp_ratio: float = 4.0) -> ImageJepaConfig:
    return ImageJepaConfig.from_preset(
        "vit_tiny_16", pred_hidden_size=192, pred_num_hidden_layers=6, pred_mlp_ratio=pred_mlp_ratio
    )


def step_batch(config: ImageJepaConfig, batch_size: int) -> dict:
    samples = [{"pixel_values": torch.randn(3, 224, 224)} for _ in range(batch_size)]
    return ImageJepaMaskCollator(config, seed=0)(samples)


def ours(config: ImageJepaConfig, batch: dict) -> tuple[Callable, Callable]:
    """Our model's forward (returns the loss) and its optimizer + EMA update."""
    torch.manual_seed(0)
    model = ImageJepaForPreTraining(config).train()
    optimizer = build_optimizer(model, 1e-4, 0.04)

    def update() -> None:
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema_update(model.momentum_pairs(), 0.996)

    return lambda: model(**batch).loss, update


def lightly_peer(config: ImageJepaConfig, batch: dict) -> tuple[Callable, Callable]:
    """The same step built from lightly's I-JEPA modules, as in lightly's I-JEPA example."""
    from lightly.models import utils
    from lightly.models.modules.ijepa import IJEPABackbone, IJEPAPredictor

    torch.manual_seed(0)
    width, grid = config.hidden_size, config.image_size // config.patch_size
    encoder = IJEPABackbone(
        image_size=config.image_size, patch_size=config.patch_size, num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads, hidden_dim=width, mlp_dim=int(width * config.mlp_ratio),
    )  # fmt: skip
    predictor = IJEPAPredictor(
        seq_length=grid**2, num_layers=config.pred_num_hidden_layers, num_heads=config.pred_num_attention_heads,
        hidden_dim=config.pred_hidden_size, predictor_embed_dim=config.pred_hidden_size, num_patches=grid**2,
        mlp_dim=width, dropout=0.0, attention_dropout=0.0,
    )  # fmt: skip
    target = copy.deepcopy(encoder).requires_grad_(False)
    params = [*encoder.parameters(), *predictor.parameters()]
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.04)
    pixels = batch["pixel_values"]
    context = [batch["context_indices"]]
    targets = list(batch["target_indices"].unbind(1))

    def loss() -> torch.Tensor:
        with torch.no_grad():
            h = target(pixels)
            h = utils.apply_masks(torch.nn.functional.layer_norm(h, h.shape[-1:]), targets)
        z = predictor(encoder(pixels, idx_keep=context), context, targets)
        return torch.nn.functional.smooth_l1_loss(z, h)

    def update() -> None:
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            for online, ema in zip(encoder.parameters(), target.parameters(), strict=True):
                ema.mul_(0.996).add_(online.detach(), alpha=0.004)

    return loss, update


def pretraining_step(steps: int, dtype: torch.dtype, build: Callable, pred_mlp_ratio: float, batch_size: int = 8):
    config = step_config(pred_mlp_ratio)
    batch = step_batch(config, batch_size)
    forward, update = build(config, batch)

    def step() -> None:
        with _autocast(dtype):
            loss = forward()
        loss.backward()
        update()

    with FlopCounterMode(display=False) as counter:
        with _autocast(dtype):
            loss = forward()
        loss.backward()
    flops = counter.get_total_flops()
    update()
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
    has_lightly = importlib.util.find_spec("lightly") is not None
    rows, peer_rows = [], []
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        peak = matmul_rate(dtype)
        result = pretraining_step(args.steps, dtype, ours, pred_mlp_ratio=4.0)
        share = result["flops_per_s"] / peak
        rows.append(
            f"| {name} | {result['samples_per_s']:.2f} | {result['flops_per_step'] / 1e9:.1f} | "
            f"{result['flops_per_s'] / 1e9:.1f} | {peak / 1e9:.1f} | {100 * share:.0f} % |"
        )
        print(name, result, f"matmul {peak / 1e9:.1f} GFLOP/s, share {100 * share:.0f} %", flush=True)
        if has_lightly:
            mine = pretraining_step(args.steps, dtype, ours, pred_mlp_ratio=1.0)
            peer = pretraining_step(args.steps, dtype, lightly_peer, pred_mlp_ratio=1.0)
            peer_rows.append(
                f"| {name} | {mine['samples_per_s']:.2f} | {peer['samples_per_s']:.2f} | "
                f"{mine['samples_per_s'] / peer['samples_per_s']:.2f}× | {100 * mine['flops_per_s'] / peak:.0f} % | "
                f"{100 * peer['flops_per_s'] / peak:.0f} % |"
            )
            print(name, "ours (pred MLP 192)", mine, "lightly", peer, flush=True)
    inference = encoder_inference(max(3, args.steps))
    print("inference", inference)
    if peer_rows:
        import lightly

        peer_text = [
            f"Against lightly {lightly.__version__} (`IJEPABackbone` + EMA copy + `IJEPAPredictor`, same sizes and "
            "masks, AdamW + EMA included); both predictors at MLP width 192, which lightly's predictor requires "
            "(ours: `pred_mlp_ratio=1`):",
            "",
            "| precision | ours samples/s | lightly samples/s | ours / lightly | ours share | lightly share |",
            "|---|---|---|---|---|---|",
            *peer_rows,
        ]
    else:
        peer_text = ["lightly not installed (`uv sync --group bench`): no peer comparison in this run."]
    text = "\n".join(
        [
            "## I-JEPA (`benchmarks/ijepa_step.py`)",
            "",
            f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
            f"torch {torch.__version__}. Pretraining step: encoder ViT-Tiny/16 at 224 px, predictor 192 wide × 6 "
            f"deep, 4 target blocks, batch 8, AdamW + EMA included; {args.steps} timed steps; "
            f"{result['context_tokens']} context and 4 × {result['target_tokens']} target tokens per image. "
            "Command: `uv sync --group bench && uv run python benchmarks/ijepa_step.py`.",
            "",
            "| precision | samples/s | model GFLOP/step | achieved GFLOP/s | matmul GFLOP/s | share of matmul rate |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            *peer_text,
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
