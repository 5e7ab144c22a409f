"""I-JEPA pretraining step on CPU as training runs it: fresh images and fresh masks every step, collator included.

Step: encoder ViT-Tiny/16 (192 wide, 12 deep, 3 heads) at 224 px, predictor 192 wide and 6 deep, 4 target
blocks, batch 8, AdamW + EMA. Every step draws new images and runs the real collator (`ImageJepaMaskCollator`:
new masks, so the context and target lengths change from step to step), then forward, backward, AdamW and the
EMA update; the timed step includes all of it. All variants read the same seeded stream of images and masks and
run interleaved, one step each per round, with a burst of dense matmuls in fp32 and bf16 per round, so that
they share the machine's load; the matmul rate is the best burst. Model FLOPs (torch.utils.flop_counter,
forward + backward) are counted on our model for each step's token counts; the share of the matmul rate is the
achieved FLOP/s of the timed steps over that rate. One step of each precision is recorded (`MatmulRecorder`) and
its matrix products are timed alone in every round: the kernels' own rate on the step's shapes, which bounds the
share the whole step can reach.

Variants: ours (predictor MLP ratio 4) in fp32 and bf16 autocast; with the `bench` group installed, lightly's
I-JEPA modules (`IJEPABackbone` encoder + EMA copy, `IJEPAPredictor`) against ours at lightly's predictor MLP
width (its predictor reads its input through a `Linear(mlp_dim, ...)`, so the MLP width must equal the encoder
width, 192; ours: `pred_mlp_ratio=1`); with `--compile`, ours with `torch.compile`d trunks as well. Encoder
inference: our encoder vs `transformers.IJepaModel` holding the same weights (max abs difference, speed ratio).

Run: `uv sync --group bench && uv run python benchmarks/ijepa_step.py [--steps 10] [--compile] [--no-readme]`
(without the `bench` group the lightly rows are skipped); results replace this script's section of
benchmarks/README.md.
"""

import argparse
import copy
import importlib.util
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from ijepa import ImageJepaConfig, ImageJepaForPreTraining, ImageJepaMaskCollator
from ijepa.convert_ijepa import export_to_transformers
from jepa_core.ema import ema_update
from jepa_core.training import build_optimizer
from jepa_core.training.trainer import compile_trunks
from readme_section import write_section
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

BATCH, DTYPES = 8, {"fp32": torch.float32, "bf16": torch.bfloat16}
clock = time.perf_counter  # `--cpu-time`: this thread's CPU time, which other processes on the machine barely move


def step_config(pred_mlp_ratio: float = 4.0) -> ImageJepaConfig:
    return ImageJepaConfig.from_preset(
        "vit_tiny_16", pred_hidden_size=192, pred_num_hidden_layers=6, pred_mlp_ratio=pred_mlp_ratio
    )


def fresh_batches(config: ImageJepaConfig, seed: int = 0) -> Iterator[dict]:
    """New images and new masks every step, from the real collator; the same seed gives every variant the same
    stream."""
    collator, generator = ImageJepaMaskCollator(config, seed=seed), torch.Generator().manual_seed(seed)
    size = config.image_size
    while True:
        images = torch.randn(BATCH, 3, size, size, generator=generator)
        yield collator([{"pixel_values": image} for image in images])


def ours(config: ImageJepaConfig, compiled: bool = False) -> tuple[Callable, Callable]:
    """Our model's forward (batch → loss) and its AdamW + EMA update."""
    torch.manual_seed(0)
    model = ImageJepaForPreTraining(config).train()
    if compiled:
        compile_trunks(model)
    optimizer = build_optimizer(model, 1e-4, 0.04)

    def update() -> None:
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema_update(model.momentum_pairs(), 0.996)

    return lambda batch: model(**batch).loss, update


def lightly_peer(config: ImageJepaConfig) -> tuple[Callable, Callable]:
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
    optimizer = torch.optim.AdamW([*encoder.parameters(), *predictor.parameters()], lr=1e-4, weight_decay=0.04)

    def loss(batch: dict) -> torch.Tensor:
        pixels, context = batch["pixel_values"], [batch["context_indices"]]
        targets = list(batch["target_indices"].unbind(1))
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


@dataclass
class Variant:
    """One implementation at one precision, stepping through its own copy of the shared batch stream."""

    name: str
    precision: str
    pred_mlp_ratio: float
    build: Callable[[ImageJepaConfig], tuple[Callable, Callable]]
    seconds: list[float] = field(default_factory=list)
    shapes: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self):
        self.config = step_config(self.pred_mlp_ratio)
        self.forward, self.update = self.build(self.config)
        self.batches = fresh_batches(self.config)

    def step(self, timed: bool = True) -> None:
        started = clock()
        batch = next(self.batches)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            loss = self.forward(batch)
        loss.backward()
        self.update()
        if timed:
            self.seconds.append(clock() - started)
            self.shapes.append((batch["context_indices"].shape[1], batch["target_indices"].shape[2]))


def matmul_burst(dtype: torch.dtype, size: int = 2048, repeats: int = 3) -> float:
    """Dense matmul FLOP/s in `dtype`: the best of a few size×size products."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        torch.mm(a, b)
        best = min(best, clock() - start)
    return 2 * size**3 / best


class MatmulRecorder(TorchDispatchMode):
    """Records the operands (shape, stride, dtype) of every matrix product run under it, autograd's included."""

    PRODUCTS = (torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default)

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in self.PRODUCTS:
            operands = [(a.shape, a.stride(), a.dtype) if isinstance(a, torch.Tensor) else a for a in args]
            self.calls.append((func, operands, kwargs or {}))
        return func(*args, **(kwargs or {}))


@dataclass
class StepMatmuls:
    """One step's matrix products on stand-in operands of the same shapes, strides and dtypes, to time them alone:
    how fast the library's kernels run on the step's own shapes bounds how fast the step can be."""

    calls: list
    model_flops: int  # the whole step's, by torch.utils.flop_counter
    flops: int = 0

    def __post_init__(self):
        def stand_in(operand):
            if not isinstance(operand, tuple):
                return operand
            shape, stride, dtype = operand
            return torch.empty_strided(shape, stride, dtype=dtype).normal_()

        self.calls = [(func, [stand_in(a) for a in args], kwargs) for func, args, kwargs in self.calls]
        for _, args, _ in self.calls:
            first, second = args[-2], args[-1]  # addmm: (bias, mat1, mat2)
            self.flops += 2 * first.shape[:-1].numel() * first.shape[-1] * second.shape[-1]

    def seconds(self) -> float:
        start = clock()
        for func, args, kwargs in self.calls:
            func(*args, **kwargs)
        return clock() - start


def record_matmuls(variant: "Variant") -> StepMatmuls:
    with FlopCounterMode(display=False) as counter, MatmulRecorder() as recorder:
        variant.step(timed=False)
    return StepMatmuls(recorder.calls, counter.get_total_flops())


def step_flops(pred_mlp_ratio: float, shapes: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Forward + backward FLOPs of our model for each (context tokens, target tokens) met in the timed steps."""
    config = step_config(pred_mlp_ratio)
    model = ImageJepaForPreTraining(config).train()
    grid = config.grid_size[0] * config.grid_size[1]
    flops = {}
    for context, target in sorted(shapes):
        batch = {
            "pixel_values": torch.randn(BATCH, 3, config.image_size, config.image_size),
            "context_indices": torch.arange(context).expand(BATCH, -1),
            "target_indices": torch.arange(grid - target, grid).expand(BATCH, config.num_target_blocks, -1),
        }
        with FlopCounterMode(display=False) as counter:
            model(**batch).loss.backward()
        model.zero_grad(set_to_none=True)
        flops[context, target] = counter.get_total_flops()
    return flops


def run(variants: list[Variant], steps: int, warmup: int) -> tuple[dict, dict]:
    """Warm every variant up (the last warm-up step of the first variant of each precision records its matrix
    products), then `steps` interleaved rounds. Returns the best dense matmul rate per precision, and per precision
    (the best rate of the recorded step's matrix products run alone, those products)."""
    matmuls = {}
    for variant in variants:
        for _ in range(warmup - 1):
            variant.step(timed=False)
        if variant.precision in matmuls:
            variant.step(timed=False)
        else:
            matmuls[variant.precision] = record_matmuls(variant)
    peaks, own = dict.fromkeys(DTYPES, 0.0), dict.fromkeys(DTYPES, 0.0)
    for round_ in range(steps):
        for variant in variants:
            variant.step()
        for name, dtype in DTYPES.items():
            peaks[name] = max(peaks[name], matmul_burst(dtype))
            own[name] = max(own[name], matmuls[name].flops / matmuls[name].seconds())
        print(f"round {round_ + 1}/{steps}", flush=True)
    return peaks, {name: (rate, matmuls[name]) for name, rate in own.items()}


def summary(variant: Variant, flops: dict, peak: float) -> dict:
    seconds = sum(variant.seconds)
    total = sum(flops[variant.pred_mlp_ratio][shape] for shape in variant.shapes)
    return {
        "samples_per_s": BATCH * len(variant.seconds) / seconds,
        "gflop_per_step": total / len(variant.shapes) / 1e9,
        "gflop_per_s": total / seconds / 1e9,
        "share": total / seconds / peak,
        "context_tokens": sum(c for c, _ in variant.shapes) / len(variant.shapes),
        "target_tokens": sum(t for _, t in variant.shapes) / len(variant.shapes),
    }


@torch.no_grad()
def encoder_inference(repeats: int) -> dict:
    config = ImageJepaConfig.from_preset("vit_tiny_16")
    torch.manual_seed(0)
    ours_model = ImageJepaForPreTraining(config).export_encoder().eval()
    with tempfile.TemporaryDirectory() as folder:
        theirs = export_to_transformers(ours_model, folder).eval()
    pixels = torch.randn(BATCH, 3, 224, 224)
    difference = (ours_model(pixels).last_hidden_state - theirs(pixels).last_hidden_state).abs().max().item()

    def best_time(model) -> float:
        model(pixels)
        times = []
        for _ in range(repeats):
            start = clock()
            model(pixels)
            times.append(clock() - start)
        return min(times)

    ours_s, theirs_s = best_time(ours_model), best_time(theirs)
    return {"max_abs_diff": difference, "ours_s": ours_s, "transformers_s": theirs_s, "speedup": theirs_s / ours_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed rounds (one step of every variant each)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="add ours with torch.compile (minutes on a CPU)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--cpu-time", action="store_true", help="time by CPU time (with --threads 1): ratios on a shared machine"
    )
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cpu_time:
        if torch.get_num_threads() != 1:
            raise SystemExit("--cpu-time counts the main thread only: add --threads 1")
        global clock
        clock = time.thread_time
    has_lightly = importlib.util.find_spec("lightly") is not None
    variants = [Variant(f"ours {p}", p, 4.0, ours) for p in DTYPES]
    if args.compile:
        variants += [Variant(f"ours compiled {p}", p, 4.0, lambda c: ours(c, compiled=True)) for p in DTYPES]
    if has_lightly:
        variants += [Variant(f"ours MLP 192 {p}", p, 1.0, ours) for p in DTYPES]
        variants += [Variant(f"lightly {p}", p, 1.0, lightly_peer) for p in DTYPES]
    peaks, own = run(variants, args.steps, args.warmup)
    ratios = {v.pred_mlp_ratio for v in variants}
    shapes = {ratio: {s for v in variants if v.pred_mlp_ratio == ratio for s in v.shapes} for ratio in ratios}
    flops = {ratio: step_flops(ratio, shapes[ratio]) for ratio in ratios}
    results = {v.name: summary(v, flops, peaks[v.precision]) for v in variants}
    for name, result in results.items():
        print(name, {k: round(v, 3) for k, v in result.items()}, flush=True)
    own_text = "; ".join(
        f"{precision}: {len(matmuls.calls)} products carrying {100 * matmuls.flops / matmuls.model_flops:.0f} % of "
        f"the step's model FLOPs, {rate / 1e9:.1f} GFLOP/s = {100 * rate / peaks[precision]:.0f} % of the matmul rate"
        for precision, (rate, matmuls) in own.items()
    )
    inference = encoder_inference(max(3, args.steps))
    print("inference", inference)

    def row(name: str, precision: str) -> str:
        r = results[name]
        return (
            f"| {name.removesuffix(' ' + precision)} | {precision} | {r['samples_per_s']:.2f} | "
            f"{r['gflop_per_step']:.1f} | {r['gflop_per_s']:.1f} | {peaks[precision] / 1e9:.1f} | "
            f"{100 * r['share']:.0f} % |"
        )

    main_rows = [row(v.name, v.precision) for v in variants if v.pred_mlp_ratio == 4.0]
    if has_lightly:
        import lightly

        peer_rows = []
        for precision in DTYPES:
            mine, peer = results[f"ours MLP 192 {precision}"], results[f"lightly {precision}"]
            peer_rows.append(
                f"| {precision} | {mine['samples_per_s']:.2f} | {peer['samples_per_s']:.2f} | "
                f"{mine['samples_per_s'] / peer['samples_per_s']:.2f}× | {100 * mine['share']:.0f} % | "
                f"{100 * peer['share']:.0f} % |"
            )
        peer_text = [
            f"Against lightly {lightly.__version__} (`IJEPABackbone` + EMA copy + `IJEPAPredictor`), in the same run, "
            "same sizes, same images and masks, AdamW + EMA included; both predictors at MLP width 192, which "
            "lightly's predictor requires (ours: `pred_mlp_ratio=1`); shares against the same matmul rates:",
            "",
            "| precision | ours samples/s | lightly samples/s | ours / lightly | ours share | lightly share |",
            "|---|---|---|---|---|---|",
            *peer_rows,
        ]
    else:
        peer_text = ["lightly not installed (`uv sync --group bench`): no peer comparison in this run."]
    mean_context = results["ours fp32"]["context_tokens"]
    mean_target = results["ours fp32"]["target_tokens"]
    text = "\n".join(
        [
            "## I-JEPA (`benchmarks/ijepa_step.py`)",
            "",
            f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
            f"torch {torch.__version__}{', CPU time' if args.cpu_time else ''}. Pretraining step as training "
            "runs it: fresh images and fresh masks from the real collator every step (the collator's time "
            "included), encoder ViT-Tiny/16 at 224 px, predictor "
            f"192 wide × 6 deep, 4 target blocks, batch {BATCH}, AdamW + EMA included; {args.steps} timed steps "
            f"per variant, the variants interleaved step by step; on average {mean_context:.0f} context and "
            f"4 × {mean_target:.1f} target tokens per image (they change every step). Model FLOPs counted by "
            "torch.utils.flop_counter for each step's token counts; matmul rate: the best 2048² product, in "
            "bursts between the rounds of the same run. Command: "
            "`uv sync --group bench && uv run python benchmarks/ijepa_step.py`. These figures replace earlier ones "
            "that reused one batch (the same masks and token counts) for every step, which overstated the rate.",
            "",
            "| model | precision | samples/s | model GFLOP/step | achieved GFLOP/s | matmul GFLOP/s "
            "| share of matmul rate |",
            "|---|---|---|---|---|---|---|",
            *main_rows,
            "",
            "The step's own matrix products (recorded from one step of each precision, forward and backward, and "
            "run back to back on stand-in operands of the same shapes, strides and dtypes, timed in the same rounds) "
            f"show how fast the library's kernels are on these shapes: {own_text}. Their rate bounds the step's "
            "share: the rest of the step (attention's softmax, GELU, layer norms, casts, AdamW, EMA, the collator) "
            "only adds time.",
            "",
            *peer_text,
            "",
            f"Encoder inference (ViT-Tiny/16, batch {BATCH}, 224 px) vs transformers `IJepaModel` with the same "
            f"weights: max abs diff {inference['max_abs_diff']:.1e}, ours {1000 * inference['ours_s']:.0f} ms, "
            f"transformers {1000 * inference['transformers_s']:.0f} ms, speed ratio {inference['speedup']:.2f}×.",
        ]
    )
    if not args.no_readme:
        write_section("ijepa_step", text)
    print(text)


if __name__ == "__main__":
    main()
