"""The JEPA pretraining loop on Accelerate: one CPU, one GPU, or many through `accelerate launch`."""

import importlib.util
import json
import logging
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object, set_seed
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from ..ema import ema_update, momentum_schedule
from ..masks import MaskCollator
from .checkpoint import (
    checkpoint_name,
    finalize_checkpoint,
    join_collator_states,
    latest_checkpoint,
    load_train_state,
    save_train_state,
    split_collator_state,
)
from .monitor import CollapseMonitor
from .optim import build_optimizer, set_schedules
from .plots import plot_history
from .schedules import cosine, warmup_cosine

logger = logging.getLogger(__name__)


# Keys that data sets carry for evaluation; pretraining never sees them.
LABEL_KEYS = ("labels", "label")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


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
    log_every: int = 10
    rankme_every: int = 50
    activation_checkpointing: bool = False
    tensorboard: bool = False
    num_workers: int = 0
    resume: bool = False
    show_progress: bool = True

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


class EpochSampler(Sampler[int]):
    """A fresh permutation per epoch from (seed, epoch): the order of any epoch can be replayed on resume."""

    def __init__(self, length: int, seed: int):
        self.length, self.seed, self.epoch = length, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist())

    def __len__(self) -> int:
        return self.length


def _move(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _enable_activation_checkpointing(model) -> None:
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()


def pretrain(model, train_dataset: Dataset, collator: MaskCollator, args: TrainingArguments) -> dict:
    """Pretrain `model` (a JEPA `...ForPreTraining`) and save the run to `args.output_dir`.

    The run folder gets the exported encoder (`save_pretrained`, loadable with AutoModel), the full
    pretraining model in `pretraining/`, crash-safe checkpoints in `checkpoints/`, `metrics.json` and
    `training_curves.png`. With `args.resume`, training continues from `checkpoints/latest` exactly.
    Returns the final metrics.
    """
    if len(train_dataset) == 0:
        raise ValueError("the training data set is empty; point --data at a folder or data set with samples")
    if args.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ImportError("--tensorboard needs the tensorboard package: pip install 'jepa-core[tensorboard]'")
    output_dir = Path(args.output_dir)
    checkpoint_root = output_dir / "checkpoints"
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with="tensorboard" if args.tensorboard else None,
        project_dir=str(output_dir),
    )
    set_seed(args.seed)
    collator.generator.manual_seed(args.seed + accelerator.process_index)
    if args.activation_checkpointing:
        _enable_activation_checkpointing(model)
    per_device_batch = args.batch_size // (accelerator.num_processes * args.gradient_accumulation_steps)
    if per_device_batch < 1 or per_device_batch > len(train_dataset):
        raise ValueError(
            f"batch size {args.batch_size} over {accelerator.num_processes} processes × "
            f"{args.gradient_accumulation_steps} accumulation steps does not fit {len(train_dataset)} samples"
        )
    sampler = EpochSampler(len(train_dataset), args.seed)
    loader = DataLoader(
        train_dataset,
        batch_size=per_device_batch,
        sampler=sampler,
        collate_fn=collator.collate_samples,
        num_workers=args.num_workers,
        drop_last=True,
    )
    config = model.config
    optimizer = build_optimizer(
        model, config.learning_rate, config.weight_decay, (config.adam_beta1, config.adam_beta2), config.adam_epsilon
    )
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    monitor = CollapseMonitor()
    step, history = 0, []

    if args.resume:
        checkpoint = latest_checkpoint(checkpoint_root)
        if checkpoint is None:
            raise FileNotFoundError(f"--resume: no checkpoint under {checkpoint_root}; start without --resume")
        accelerator.load_state(str(checkpoint))
        state, tensors = load_train_state(checkpoint)
        step, history = state["step"], state["history"]
        monitor.load_state_dict(state["monitor"])
        collator.load_state_dict(split_collator_state(state["collators"], tensors, accelerator.process_index))
        accelerator.print(f"resumed from {checkpoint} at step {step}")
    if args.tensorboard:
        accelerator.init_trackers("tensorboard", config={k: v for k, v in asdict(args).items() if v is not None})

    warmup_steps = int(config.warmup_ratio * args.max_steps)
    micro_batches_per_epoch = len(loader)

    def save_checkpoint() -> None:
        tmp = checkpoint_root / f".tmp_{checkpoint_name(step)}"
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))
        collator_states = gather_object([collator.state_dict()])
        if accelerator.is_main_process:
            plain, tensors = join_collator_states(collator_states)
            state = {"step": step, "history": history, "monitor": monitor.state_dict(), "collators": plain}
            save_train_state(tmp, state, tensors)
            finalize_checkpoint(checkpoint_root, tmp, step, args.keep_checkpoints)
        accelerator.wait_for_everyone()

    progress = tqdm(
        total=args.max_steps,
        initial=step,
        disable=not (accelerator.is_local_main_process and args.show_progress),
        desc="pretraining",
    )
    unwrapped = accelerator.unwrap_model(model)
    model.train()
    running_loss, micro = 0.0, 0
    while step < args.max_steps:
        done = step * args.gradient_accumulation_steps
        epoch, skip = divmod(done, micro_batches_per_epoch)
        loader.set_epoch(epoch)
        epoch_loader = accelerator.skip_first_batches(loader, skip) if skip else loader
        for batch in epoch_loader:
            batch.update(_move(collator.sample_masks(batch), accelerator.device))
            lr = warmup_cosine(
                step, args.max_steps, warmup_steps, config.start_learning_rate, config.learning_rate,
                config.final_learning_rate,
            )  # fmt: skip
            set_schedules(optimizer, lr, cosine(step, args.max_steps, config.weight_decay, config.final_weight_decay))
            with accelerator.accumulate(model):
                output = model(**{k: v for k, v in batch.items() if k not in LABEL_KEYS})
                if not torch.isfinite(output.loss):
                    last = latest_checkpoint(checkpoint_root)
                    raise NonFiniteLossError(
                        f"the loss became {output.loss.item()} at step {step}. The last good checkpoint is "
                        f"{last or 'none (no checkpoint was saved yet)'}; resume from it with --resume and a "
                        "lower --lr, or train in fp32 (--mixed-precision no)."
                    )
                accelerator.backward(output.loss)
                if accelerator.sync_gradients and config.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            running_loss += output.loss.item()
            micro += 1
            if output.target_embeddings is not None:
                monitor.add(accelerator.gather(output.target_embeddings.detach()))
            if not accelerator.sync_gradients:
                continue
            momentum = momentum_schedule(step, args.max_steps, config.ema_momentum_start, config.ema_momentum_end)
            ema_update(unwrapped.momentum_pairs(), momentum)
            step += 1
            row = {"step": step, "loss": running_loss / micro, "lr": lr, "momentum": momentum}
            running_loss, micro = 0.0, 0
            if step % args.rankme_every == 0 or step == args.max_steps:
                row["rankme"] = monitor.measure(step)
            history.append(row)
            if args.tensorboard:
                accelerator.log({k: v for k, v in row.items() if v is not None and k != "step"}, step=step)
            progress.update(1)
            progress.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{lr:.2e}", m=f"{momentum:.4f}")
            if step % args.save_every == 0 or step == args.max_steps:
                save_checkpoint()
            if step >= args.max_steps:
                break
    progress.close()
    metrics = _finish_run(accelerator, unwrapped, history, output_dir, args)
    accelerator.end_training()
    return metrics


def _finish_run(accelerator, model, history: list[dict], output_dir: Path, args: TrainingArguments) -> dict:
    """Save the encoder, the pretraining model, metrics.json and the curves (main process only)."""
    accelerator.wait_for_everyone()
    losses = [row["loss"] for row in history]
    window = max(1, min(10, len(losses) // 5))
    rankmes = [row["rankme"] for row in history if row.get("rankme") is not None]
    metrics = {
        "steps": len(history),
        "initial_loss": sum(losses[:window]) / window if losses else math.nan,
        "final_loss": sum(losses[-window:]) / window if losses else math.nan,
        "final_rankme": rankmes[-1] if rankmes else None,
    }
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        model.export_encoder().save_pretrained(output_dir)
        model.save_pretrained(output_dir / "pretraining")
        train_args = {k: v for k, v in asdict(args).items() if k not in ("resume", "show_progress")}
        (output_dir / "training_args.json").write_text(json.dumps(train_args, indent=2))
        (output_dir / "metrics.json").write_text(json.dumps({"train": metrics, "history": history}, indent=2))
        plot_history(history, output_dir / "training_curves.png")
    accelerator.wait_for_everyone()
    return metrics
