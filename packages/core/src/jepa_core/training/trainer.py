"""The JEPA pretraining loop on Accelerate: one CPU, one GPU, or many through `accelerate launch`."""

import importlib.util
import json
import logging
import math
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object, set_seed
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..ema import ema_update, momentum_schedule
from ..encoder import TransformerEncoder
from ..masks import MaskCollator
from ..predictor import JepaPredictor
from .checkpoint import (
    checkpoint_name,
    finalize_checkpoint,
    join_collator_states,
    latest_checkpoint,
    load_train_state,
    save_train_state,
    split_collator_state,
)
from .feeding import Feeder, is_stream
from .monitor import CollapseMonitor
from .optim import build_optimizer, set_schedules
from .plots import plot_history
from .reproducibility import rng_state, set_rng_state
from .run_folder import check_resumable, prepare_output_dir, run_settings
from .schedules import cosine, warmup_cosine
from .sharding import all_finite, load_sharded, save_sharded, shard_model, unsharded_copy
from .step_log import NonFiniteLossError, StepLog

logger = logging.getLogger(__name__)


# Keys that data sets carry for evaluation; pretraining never sees them.
LABEL_KEYS = ("labels", "label")


@dataclass
class TrainingArguments:
    """How to run pretraining: the run's length, batch, precision, checkpoints and logging.

    What to optimise with (learning rates, weight decay, EMA momentum, Adam, clipping, warm-up) is the model
    config's: `pretrain` reads it from `model.config`. `from_config` takes `max_steps` and `batch_size` from the
    config's `max_steps` and `train_batch_size`, with keyword overrides.
    """

    output_dir: str
    max_steps: int = 1000
    batch_size: int = 128
    gradient_accumulation_steps: int = 1
    mixed_precision: str = "no"
    seed: int = 0
    save_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10  # read losses back from the device (and check them) every N steps
    rankme_every: int = 50
    activation_checkpointing: bool = False
    compile: bool = False  # torch.compile the transformer trunks (dynamic shapes); for GPUs, no gain on CPUs
    fsdp: bool = False  # shard weights, gradients, optimizer state and EMA target over the processes (FSDP2)
    tensorboard: bool = False
    num_workers: int = 0
    shuffle_buffer: int = 1000  # samples mixed by a stream's seeded shuffle buffer (0: shard order only)
    resume: bool = False
    overwrite: bool = False
    show_progress: bool = True

    def __post_init__(self):
        for name in ("max_steps", "batch_size", "gradient_accumulation_steps", "save_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be at least 0, got {self.num_workers}")
        if self.fsdp and self.mixed_precision == "fp16":
            raise ValueError("--fsdp trains in fp32 or bf16; use --mixed-precision bf16 (or no)")

    @classmethod
    def from_config(cls, config, output_dir: str, **overrides) -> "TrainingArguments":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(
                f"TrainingArguments has no {', '.join(unknown)}; optimisation settings live in the model config "
                "(e.g. config.learning_rate, or --set learning_rate=… on the command line)"
            )
        values = {"max_steps": config.max_steps, "batch_size": config.train_batch_size}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(output_dir=output_dir, **values)


def _move(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _enable_activation_checkpointing(model) -> None:
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()


def compile_trunks(model: torch.nn.Module) -> None:
    """`torch.compile` (dynamic shapes) every core transformer trunk of `model` in place: the encoders' and the
    predictor's. `nn.Module.compile` leaves the state-dict keys as they are, so checkpoints, exports and resume are
    unaffected. Meant for GPUs: on a CPU it compiles for minutes and the steps were no faster (benchmarks/README.md)."""
    for module in model.modules():
        if isinstance(module, TransformerEncoder | JepaPredictor):
            module.compile(dynamic=True)


def _launched_on_cpus() -> bool:
    """Several processes launched (torchrun / `accelerate launch`) on a machine without GPUs: run them on the
    CPUs with gloo, instead of each process silently training alone."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


def _checkpoint_bytes(model) -> int:
    """Weights, two Adam moments and the EMA copy, in float32, with head-room."""
    return 6 * 4 * sum(p.numel() for p in model.parameters())


def pretrain(model, train_dataset: Dataset, collator: MaskCollator, args: TrainingArguments) -> dict:
    """Pretrain `model` (a JEPA `...ForPreTraining`) and save the run to `args.output_dir`.

    The run folder gets the exported encoder (`save_pretrained`, loadable with AutoModel), the full
    pretraining model in `pretraining/`, crash-safe checkpoints in `checkpoints/`, `metrics.json` and
    `training_curves.png`. With `args.resume`, training continues from `checkpoints/latest` exactly; a folder
    holding another run is refused unless `args.overwrite`. Optimisation settings come from `model.config`.
    Under several processes (`accelerate launch`) the logged loss is the mean over processes, `args.batch_size`
    is the global batch, and the main process writes the folder. Returns the final metrics.
    """
    stream = is_stream(train_dataset)
    if not stream and len(train_dataset) == 0:
        raise ValueError("the training data set is empty; point --data at a folder or data set with samples")
    if args.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ImportError("--tensorboard needs the tensorboard package: pip install 'jepa-core[tensorboard]'")
    output_dir = Path(args.output_dir)
    checkpoint_root = output_dir / "checkpoints"
    accelerator = Accelerator(
        cpu=_launched_on_cpus(),
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with="tensorboard" if args.tensorboard else None,
        project_dir=str(output_dir),
    )
    if accelerator.is_main_process:
        prepare_output_dir(output_dir, args.resume, args.overwrite, _checkpoint_bytes(model))
    accelerator.wait_for_everyone()
    set_seed(args.seed)
    collator.generator.manual_seed(args.seed + accelerator.process_index)
    if args.activation_checkpointing:
        _enable_activation_checkpointing(model)
    processes = accelerator.num_processes * args.gradient_accumulation_steps
    per_device_batch = args.batch_size // processes
    too_big = not stream and per_device_batch > len(train_dataset)
    if per_device_batch < 1 or too_big or args.batch_size % processes:
        size = "" if stream else f" and fit the {len(train_dataset)} samples"
        raise ValueError(
            f"--batch-size {args.batch_size} must split evenly over {accelerator.num_processes} processes × "
            f"{args.gradient_accumulation_steps} accumulation steps{size}"
        )
    feeder = Feeder(accelerator, train_dataset, collator.collate_samples, per_device_batch, args)
    config = model.config
    settings = run_settings(args, config)
    if args.fsdp:
        if accelerator.num_processes < 2:
            raise ValueError(
                "--fsdp shards the model over several processes; launch with `accelerate launch --num_processes N`"
            )
        model = shard_model(model, accelerator.device, accelerator.num_processes)
    optimizer = build_optimizer(
        model, config.learning_rate, config.weight_decay, (config.adam_beta1, config.adam_beta2), config.adam_epsilon
    )
    if args.fsdp:
        optimizer = accelerator.prepare(optimizer)
    else:
        model, optimizer = accelerator.prepare(model, optimizer)
    monitor = CollapseMonitor()
    step, history, position = 0, [], {"epoch": 0, "batches": 0}

    if args.resume:
        checkpoint = latest_checkpoint(checkpoint_root)
        if checkpoint is None:
            raise FileNotFoundError(f"--resume: no checkpoint under {checkpoint_root}; start without --resume")
        state, tensors = load_train_state(checkpoint)
        check_resumable(state.get("settings", {}), settings)
        if args.fsdp:
            load_sharded(model, optimizer.optimizer, checkpoint)
        else:
            accelerator.load_state(str(checkpoint))
        step, history, position = state["step"], state["history"], state["position"]
        monitor.load_state_dict(state["monitor"], tensors.get("monitor_buffer"))
        collator.load_state_dict(split_collator_state(state["collators"], tensors, accelerator.process_index))
        rng = tensors.get(f"rng_{accelerator.process_index}")
        if rng is None:
            raise ValueError(f"checkpoint {checkpoint} has no RNG state for process {accelerator.process_index}")
        set_rng_state(rng)
        accelerator.print(f"resumed from {checkpoint} at step {step}")
    if args.tensorboard:
        accelerator.init_trackers("tensorboard", config={k: v for k, v in asdict(args).items() if v is not None})

    warmup_steps = int(config.warmup_ratio * args.max_steps)
    unwrapped = accelerator.unwrap_model(model)
    if args.compile:
        compile_trunks(unwrapped)

    def save_checkpoint() -> None:
        if not all_finite(unwrapped):
            last = latest_checkpoint(checkpoint_root)
            raise NonFiniteLossError(
                f"the weights became NaN or infinite by step {step}; the last good checkpoint is "
                f"{last or 'none'}. Resume from it with --resume and a lower --lr, or train in fp32."
            )
        tmp = checkpoint_root / f".tmp_{checkpoint_name(step)}"
        accelerator.wait_for_everyone()
        if args.fsdp:
            save_sharded(model, optimizer.optimizer, tmp)
        else:
            accelerator.save_state(str(tmp))
        per_process = gather_object([(collator.state_dict(), rng_state())])
        if accelerator.is_main_process:
            plain, tensors = join_collator_states([collator_state for collator_state, _ in per_process])
            tensors.update({f"rng_{rank}": rng for rank, (_, rng) in enumerate(per_process)})
            monitor_state, buffer = monitor.state_dict(), monitor.buffer_tensor()
            if buffer is not None:
                tensors["monitor_buffer"] = buffer
            state = {"step": step, "history": history, "monitor": monitor_state, "collators": plain,
                     "settings": settings, "position": position}  # fmt: skip
            save_train_state(tmp, state, tensors)
            finalize_checkpoint(checkpoint_root, tmp, step, args.keep_checkpoints)
        accelerator.wait_for_everyone()

    progress = tqdm(
        total=args.max_steps,
        initial=step,
        disable=not (accelerator.is_local_main_process and args.show_progress),
        desc="pretraining",
    )
    model.train()
    log = StepLog(accelerator)
    autocast = accelerator.autocast if args.fsdp else nullcontext  # a prepared model autocasts itself
    started, first_step, first_step_done = time.perf_counter(), step, None

    def flush() -> None:
        def failure(row: dict, value: float) -> str:
            last = latest_checkpoint(checkpoint_root)
            return (
                f"the loss became {value} at step {row['step']}. The last good checkpoint is "
                f"{last or 'none (no checkpoint was saved yet)'}; resume from it with --resume and a lower --lr, "
                "or train in fp32 (--mixed-precision no)."
            )

        rows = log.flush(failure)
        history.extend(rows)
        for row in rows:
            if args.tensorboard:
                accelerator.log({k: v for k, v in row.items() if v is not None and k != "step"}, step=row["step"])
        if rows:
            row = rows[-1]
            shown = {k.removeprefix("loss_"): f"{v:.4f}" for k, v in row.items() if k.startswith("loss_")}
            progress.set_postfix(loss=f"{row['loss']:.4f}", **shown, lr=f"{row['lr']:.2e}", m=f"{row['momentum']:.4f}")

    while step < args.max_steps:
        for batch in feeder.epoch_batches(position["epoch"], position["batches"]):
            position["batches"] += 1
            batch = _move(batch, accelerator.device) if feeder.stream else batch
            batch.update(_move(collator.sample_masks(batch), accelerator.device))
            lr = warmup_cosine(
                step, args.max_steps, warmup_steps, config.start_learning_rate, config.learning_rate,
                config.final_learning_rate,
            )  # fmt: skip
            set_schedules(optimizer, lr, cosine(step, args.max_steps, config.weight_decay, config.final_weight_decay))
            with accelerator.accumulate(model), autocast():
                output = model(**{k: v for k, v in batch.items() if k not in LABEL_KEYS})
                accelerator.backward(output.loss)
                if accelerator.sync_gradients and config.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            log.add_micro_batch(output.loss, output.loss_parts)
            if output.target_embeddings is not None:
                monitor.add(accelerator.gather(output.target_embeddings.detach()))
            if not accelerator.sync_gradients:
                continue
            momentum = momentum_schedule(step, args.max_steps, config.ema_momentum_start, config.ema_momentum_end)
            ema_update(unwrapped.momentum_pairs(), momentum)
            step += 1
            if step == first_step + 1:
                first_step_done = time.time()
            log.end_step({"step": step, "lr": lr, "momentum": momentum})
            progress.update(1)
            rankme_now = step % args.rankme_every == 0 or step == args.max_steps
            checkpoint_now = step % args.save_every == 0 or step == args.max_steps
            if step % args.log_every == 0 or checkpoint_now or rankme_now:
                flush()  # a non-finite loss stops the run here, before RankMe or a checkpoint sees its weights
            if rankme_now:
                history[-1]["rankme"] = monitor.measure(step)
                if args.tensorboard and history[-1]["rankme"] is not None:
                    accelerator.log({"rankme": history[-1]["rankme"]}, step=step)
            if checkpoint_now:
                save_checkpoint()
            if step >= args.max_steps:
                break
        else:  # the epoch ended
            if position["batches"] == 0:
                raise ValueError(
                    f"epoch {position['epoch']} gave no batch of {per_device_batch} samples per process; "
                    "the training data is smaller than one batch"
                )
            position = {"epoch": position["epoch"] + 1, "batches": 0}
    progress.close()
    seconds = time.perf_counter() - started
    rate = (step - first_step) * args.batch_size / seconds if step > first_step else None
    exported = unsharded_copy(unwrapped) if args.fsdp else unwrapped
    metrics = _finish_run(accelerator, exported, history, output_dir, args, rate, _since_start(first_step_done))
    accelerator.end_training()
    return metrics


def _peak_memory_mb() -> float:
    """Peak GPU memory allocated by torch on a GPU, else this process's peak resident memory."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _check_processes_agree(accelerator, model) -> None:
    """Every process must end with the same weights (EMA target included); a mismatch is a bug, not noise."""
    if accelerator.num_processes == 1:
        return
    checksum = torch.stack([p.detach().double().sum() for p in model.state_dict().values()]).cpu()
    sums = gather_object([checksum])
    if any(not torch.equal(sums[0], other) for other in sums[1:]):
        raise RuntimeError("the processes ended with different weights; please report this with your launch command")


def _since_start(moment: float | None) -> float | None:
    """Seconds from this process's start (imports, data, model build included) to `moment` (a `time.time()`)."""
    import psutil  # an Accelerate dependency

    return None if moment is None else moment - psutil.Process().create_time()


def _finish_run(
    accelerator,
    model,
    history: list[dict],
    output_dir: Path,
    args: TrainingArguments,
    rate: float | None,
    time_to_first_step: float | None = None,
) -> dict:
    """Save the encoder, the pretraining model, metrics.json and the curves (main process only)."""
    accelerator.wait_for_everyone()
    if not args.fsdp:  # a sharded run ends with one gathered copy on the main process
        _check_processes_agree(accelerator, model)
    losses = [row["loss"] for row in history]
    window = max(1, min(10, len(losses) // 5))
    rankmes = [row["rankme"] for row in history if row.get("rankme") is not None]
    metrics = {
        "steps": len(history),
        "initial_loss": sum(losses[:window]) / window if losses else math.nan,
        "final_loss": sum(losses[-window:]) / window if losses else math.nan,
        "final_rankme": rankmes[-1] if rankmes else None,
        "processes": accelerator.num_processes,
        "samples_per_second": rate,  # global samples of the steps of this session, checkpoints included
        "time_to_first_step_s": time_to_first_step,  # process start → first step of this session done
        "peak_memory_mb": _peak_memory_mb(),
    }
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        model.export_encoder().save_pretrained(output_dir)
        model.save_pretrained(output_dir / "pretraining")
        train_args = {k: v for k, v in asdict(args).items() if k not in ("resume", "show_progress", "overwrite")}
        (output_dir / "training_args.json").write_text(json.dumps(train_args, indent=2))
        (output_dir / "metrics.json").write_text(json.dumps({"train": metrics, "history": history}, indent=2))
        plot_history(history, output_dir / "training_curves.png")
    accelerator.wait_for_everyone()
    return metrics
