"""The paper's attentive-probe and fine-tuning protocol (`finetune.py`, `configs/eval/*.yaml` of the reference).

Train `EcgJepaForSequenceClassification` with BCE on random 2.5-s crops, evaluate every `eval_every` steps on the
validation records (7 strided 2.5-s crops per 10 s, logits averaged, macro ROC-AUC), keep the best validation
state (early stopping), and report the test macro ROC-AUC of that state.

    python -m ecg_jepa.finetuning runs/ecg-s --data /path/to/ptb-xl --recipe linear --output-dir runs/ecg-s-linear
    python -m ecg_jepa.finetuning runs/ecg-s-linear --data /path/to/ptb-xl --recipe finetune_after_linear
"""

import argparse
import copy
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from jepa_core.training.schedules import warmup_cosine
from sklearn.metrics import roc_auc_score
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification

from .data import EcgRecords, load_dataset, simulated_dataset
from .evaluation import strided_crops
from .modeling_ecg_jepa import EcgJepaForSequenceClassification, EcgJepaPerLeadForSequenceClassification
from .processor_ecg_jepa import EcgJepaProcessor

Classifier = EcgJepaForSequenceClassification | EcgJepaPerLeadForSequenceClassification


@dataclass
class FinetuneArguments:
    """Optimisation of the classifier; `RECIPES` holds the paper's two attentive-pooler configurations."""

    frozen: bool = True
    steps: int = 5000
    batch_size: int = 128
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-3
    warmup_steps: int = 0
    start_learning_rate: float = 1e-6
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)
    max_grad_norm: float = 1.0
    eval_every: int = 100
    patience: int = 5000
    seed: int = 0


RECIPES = {
    "linear": FinetuneArguments(),  # frozen encoder: the attentive probe
    "finetune_after_linear": FinetuneArguments(
        frozen=False, learning_rate=1e-4, final_learning_rate=1e-6, warmup_steps=200, weight_decay=0.0, patience=2000
    ),
}


def macro_auc(targets: np.ndarray, scores: np.ndarray) -> float:
    """Mean ROC-AUC over the labels that have both classes in `targets` (others have no AUC)."""
    usable = [j for j in range(targets.shape[1]) if len(np.unique(targets[:, j])) == 2]
    if not usable:
        raise ValueError("no label has both classes in the evaluation records; the AUC is undefined")
    return float(np.mean([roc_auc_score(targets[:, j], scores[:, j]) for j in usable]))


@torch.no_grad()
def predict(model: Classifier, dataset: EcgRecords, batch_records: int = 32) -> torch.Tensor:
    """(records, labels) probabilities: sigmoid of the logits averaged over each record's strided crops."""
    config, was_training = model.config, model.training
    model.eval()
    device = next(model.parameters()).device
    logits = []
    for start in range(0, len(dataset.records), batch_records):  # each record once; len(dataset) counts crops
        records = dataset.records[start : start + batch_records]
        crops = [strided_crops(r, config.eval_crop_length, config.eval_crop_stride) for r in records]
        if len({len(c) for c in crops}) == 1:
            logits.append(model(torch.stack(crops).to(device)).logits.float().cpu())
        else:  # records of different lengths: one record at a time
            logits += [model(c[None].to(device)).logits.float().cpu() for c in crops]
    model.train(was_training)
    return torch.cat(logits).sigmoid()


def evaluate_classifier(model: Classifier, dataset: EcgRecords) -> float:
    if dataset.labels is None:
        raise ValueError("evaluation needs labelled records (PTB-XL, or an .npz with 'labels')")
    return macro_auc(dataset.labels.numpy(), predict(model, dataset).numpy())


def random_crops(dataset: EcgRecords, batch_size: int, crop_length: int, generator: torch.Generator) -> dict:
    """A training batch: records drawn with replacement, one random `crop_length`-sample crop each. Records are
    drawn uniformly from `dataset.records` (`len(dataset)` counts a long record's several crops per epoch)."""
    picks = torch.randint(len(dataset.records), (batch_size,), generator=generator).tolist()
    crops = []
    for index in picks:
        record = dataset.records[index]
        start = int(torch.randint(record.shape[-1] - crop_length + 1, (1,), generator=generator))
        crops.append(record[:, start : start + crop_length])
    return {"input_values": torch.stack(crops), "labels": dataset.labels[picks]}


def _optimizer(model: nn.Module, args: FinetuneArguments) -> torch.optim.AdamW:
    """AdamW with weight decay on Linear/Conv1d weights only (not on tokens or norms), as the reference."""
    decay = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear | nn.Conv1d)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) in decay], "weight_decay": args.weight_decay},
        {"params": [p for p in trainable if id(p) not in decay], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=args.learning_rate, betas=args.betas)


def finetune(
    model: Classifier,
    train: EcgRecords,
    val: EcgRecords,
    test: EcgRecords | None = None,
    args: FinetuneArguments | None = None,
) -> dict:
    """Train the classifier in place (the encoder frozen when `args.frozen`); it ends in its best validation
    state. Returns best val macro AUC and step, first/last training loss, and the test macro AUC."""
    args = args or FinetuneArguments()
    for split, data in [("train", train), ("val", val), ("test", test)]:
        if data is not None and (data.labels is None or data.labels.shape[1] != model.config.num_labels):
            found = None if data.labels is None else data.labels.shape[1]
            raise ValueError(f"the {split} records have {found} label columns; the model has num_labels="
                             f"{model.config.num_labels}")  # fmt: skip
    model.ecg_jepa.requires_grad_(not args.frozen)
    optimizer = _optimizer(model, args)
    generator = torch.Generator().manual_seed(args.seed)
    device = next(model.parameters()).device
    best = {"val_macro_auc": -1.0, "best_step": 0, "state": copy.deepcopy(model.state_dict())}
    losses = []
    model.train()
    for step in range(args.steps):
        lr = warmup_cosine(step, args.steps, args.warmup_steps, args.start_learning_rate, args.learning_rate,
                           args.final_learning_rate)  # fmt: skip
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = random_crops(train, args.batch_size, model.config.eval_crop_length, generator)
        loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
        loss.backward()
        if args.max_grad_norm:
            nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            auc = evaluate_classifier(model, val)
            if auc > best["val_macro_auc"]:
                best = {"val_macro_auc": auc, "best_step": step + 1, "state": copy.deepcopy(model.state_dict())}
            elif step + 1 - best["best_step"] >= args.patience:
                break
    model.load_state_dict(best.pop("state"))
    window = max(1, min(10, len(losses) // 5))
    metrics = {**best, "initial_loss": float(np.mean(losses[:window])), "final_loss": float(np.mean(losses[-window:]))}
    if test is not None:
        metrics["test_macro_auc"] = evaluate_classifier(model, test)
    return metrics


def finetune_pretrained(
    folder: str, data: str | None = None, recipe: str = "linear", output_dir: str | None = None, **overrides
) -> dict:
    """Attentive probe (`recipe="linear"`) or fine-tuning of the model saved in `folder` (an encoder, or a
    classifier saved by an earlier run, as the paper's `finetune_after_linear` starts from its linear probe) on
    `data` (a PTB-XL folder or an .npz; the embedded simulated data when None). `overrides` change
    `FinetuneArguments` fields; `output_dir` receives the best classifier, its processor and metrics.json."""
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {tuple(RECIPES)}, got {recipe!r}")
    args = replace(RECIPES[recipe], **overrides)
    config = AutoConfig.from_pretrained(folder)

    def load(split: str, processor: EcgJepaProcessor | None) -> EcgRecords:
        if data is None:
            return simulated_dataset(split, config, processor)
        return load_dataset(data, split, config, processor)

    train = load("train", None)  # fits the normalisation; validation and test records use the same
    val, test = (load(split, train.processor) for split in ("val", "test"))
    if train.labels is None:
        raise ValueError(f"{data} has no labels; fine-tuning needs PTB-XL or an .npz with 'labels' (N, classes)")
    torch.manual_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=train.labels.shape[1])
    metrics = {"recipe": recipe, **finetune(model, train, val, test, args), "arguments": asdict(args)}
    if output_dir is not None:
        model.save_pretrained(output_dir)
        if train.processor is not None:
            train.processor.save_pretrained(output_dir)
        (Path(output_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ecg_jepa.finetuning", description=__doc__.split("\n")[0])
    parser.add_argument("dir", help="a folder written by `jepa pretrain` (the encoder)")
    parser.add_argument("--data", help="PTB-XL folder or .npz; default: the embedded simulated data")
    parser.add_argument("--recipe", choices=tuple(RECIPES), default="linear")
    parser.add_argument("--output-dir", help="save the best classifier here (start finetune_after_linear from it)")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: the recipe's 5000)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--eval-every", type=int)
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {k: v for k, v in [("steps", args.steps), ("batch_size", args.batch_size),
                                   ("eval_every", args.eval_every)] if v is not None}  # fmt: skip
    print(json.dumps(finetune_pretrained(args.dir, args.data, args.recipe, args.output_dir, **overrides), indent=2))


if __name__ == "__main__":
    main()
