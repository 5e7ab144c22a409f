"""The `jepa` command: list, pretrain, evaluate, score, embed, push and demo, for every installed domain.

Heavy libraries (torch, transformers, the domains) are imported inside the verbs, so `jepa --help` and
`jepa list` start fast; a verb that opens a run folder imports the domain named by its `model_type` first.
"""

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from huggingface_hub.errors import StrictDataclassError

from .domain import Domain, get_domain, installed_domains
from .overrides import ConfigFieldError, parse_overrides

logger = logging.getLogger("jepa")

# CLI flags that are config fields under another name.
FLAG_FIELDS = {"lr": "learning_rate", "max_steps": "max_steps", "batch_size": "train_batch_size"}


def build_config(domain: Domain, preset: str, set_values: list[str] | None, flags: dict | None = None):
    """The preset's config with `--set FIELD=VALUE` pairs and the named flags (`--lr` …) applied."""
    config_class = domain.config_class_for(preset)
    overrides = parse_overrides(set_values, config_class)
    for flag, field in FLAG_FIELDS.items():
        value = (flags or {}).get(flag)
        if value is not None:
            overrides[field] = value
    return config_class.from_preset(preset, **overrides)


def _dataset(domain: Domain, config, data: str | None, split: str, processor=None, stream: bool = False):
    """The split from `--data` (default: the embedded data). With `stream` (pretraining), shard files are
    streamed when the domain can (`Domain.stream_format`), so data larger than memory trains: several shards, or
    shards in `train/`/`test/` folders or named after the split. One shard file without a split is read like
    any single file, with the domain's own train/test split, so pretraining never sees its test records."""
    if data is None:
        return domain.default_dataset(split, config, processor)
    if stream and domain.stream_format is not None:
        from .streams import find_shards, stream_dataset

        shards = find_shards(data, split)
        if shards is not None and (shards.by_split or len(shards.files) > 1):
            return stream_dataset(domain, config, data, processor)
    return domain.load_dataset(data, split, config, processor)


def _check_training_flags(args: argparse.Namespace) -> None:
    for name in (
        "max_steps",
        "batch_size",
        "save_every",
        "gradient_accumulation_steps",
        "num_workers",
        "shuffle_buffer",
    ):
        value = getattr(args, name, None)
        minimum = 0 if name in ("num_workers", "shuffle_buffer") else 1
        if value is not None and value < minimum:
            raise ValueError(f"--{name.replace('_', '-')} must be at least {minimum}, got {value}")


def run_pretraining(domain: Domain, args: argparse.Namespace) -> tuple[Path, object, dict]:
    """Pretrain per the CLI arguments and save the run folder; returns (run folder, config, train metrics)."""
    import torch
    from accelerate import PartialState
    from transformers import AutoModelForPreTraining

    from .runs import update_metrics, write_card
    from .training import TrainingArguments, pretrain

    _check_training_flags(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = build_config(domain, args.preset, args.set, vars(args))
    output_dir = Path(args.output_dir or f"runs/{domain.name}-{args.preset}")
    dataset = _dataset(domain, config, args.data, "train", stream=True)
    processor = getattr(dataset, "processor", None)
    if processor is None:
        raise RuntimeError(f"the {domain.name} training data set carries no processor; this is a bug of its package")
    if domain.adapt_config is not None:
        config = domain.adapt_config(config, dataset)
    train_args = TrainingArguments.from_config(
        config,
        str(output_dir),
        mixed_precision=args.mixed_precision,
        seed=args.seed,
        resume=args.resume,
        overwrite=args.overwrite,
        save_every=args.save_every,
        num_workers=args.num_workers,
        shuffle_buffer=args.shuffle_buffer,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        activation_checkpointing=args.activation_checkpointing,
        compile=args.compile,
        fsdp=args.fsdp,
        tensorboard=args.tensorboard,
    )
    torch.manual_seed(args.seed)
    model = AutoModelForPreTraining.from_config(
        config
    )  # the architecture of the config's class (a domain may have two)
    if domain.prepare_model is not None:
        domain.prepare_model(model, dataset)
    metrics = pretrain(model, dataset, domain.collator(config, args.seed), train_args)
    if PartialState().is_main_process:
        processor.save_pretrained(output_dir)
        data = domain.embedded_data if args.data is None else f"the user's data `{Path(args.data).name}`"
        update_metrics(output_dir, data=data)
        write_card(domain, output_dir, model.config)
    return output_dir, model.config, metrics  # the model's config: prepare_model may have recorded data-derived state


def cmd_list(args: argparse.Namespace) -> None:
    if args.domain:
        domain = get_domain(args.domain)
        print(f"{domain.name} ({domain.distribution}): {domain.description}\npresets:")
        for config_class in (domain.config_class, *domain.config_classes):
            for name, values in config_class.presets.items():
                size = ", ".join(f"{k}={values[k]}" for k in ("hidden_size", "num_hidden_layers") if k in values)
                print(f"  {name:<20} {config_class.__name__:<26} {size}")
        return
    domains = installed_domains()
    if not domains:
        print("no JEPA domain package is installed; install one, e.g. `pip install jepa-ijepa`")
        return
    print(f"{'domain':<12} {'package':<12} {'version':<9} description")
    for name, entry in sorted(domains.items()):
        print(f"{name:<12} {entry.distribution:<12} {entry.version:<9} {entry.summary}")
    print("\n`jepa list DOMAIN` shows a domain's presets.")


def cmd_pretrain(args: argparse.Namespace) -> None:
    from accelerate import PartialState

    domain = get_domain(args.domain)
    output_dir, _, metrics = run_pretraining(domain, args)
    if not PartialState().is_main_process:
        return
    print(json.dumps(metrics, indent=2))
    print(f"saved to {output_dir} (load with `import {domain.import_name}; AutoModel.from_pretrained(...)`)")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluation import evaluate_encoder
    from .runs import open_run, record_evaluation

    run = open_run(args.dir)
    result = evaluate_encoder(run.domain, run.encoder, run.processor, args.data)
    record_evaluation(run.domain, run.folder, run.config, result, args.data)
    print(json.dumps(result.to_dict(), indent=2))


def cmd_score(args: argparse.Namespace) -> None:
    import torch

    from .evaluation import jepa_score, pool_tokens
    from .runs import open_run

    run = open_run(args.dir)
    encoder, config = run.encoder.eval(), run.config
    dataset = _dataset(run.domain, config, args.data, "test", run.processor)
    samples = [dataset[i] for i in range(min(args.num_samples, len(dataset)))]
    if not samples:
        raise ValueError("the data set is empty; point --data at files with samples")
    inputs = run.domain.batch_inputs(samples, config)
    key = encoder.main_input_name
    if not inputs[key].is_floating_point():
        raise ValueError(f"JEPA-SCORE differentiates the input {key!r}, which is not floating point in this domain")

    def scores_of(index: int) -> torch.Tensor:
        """One sample at a time, so that its other inputs (masks, conditions) go with it."""
        others = {k: v[index : index + 1] for k, v in inputs.items() if k != key}

        def embed(x: torch.Tensor) -> torch.Tensor:
            hidden = encoder(**{key: x}, **others).last_hidden_state
            return pool_tokens(hidden, "mean", config.num_register_tokens)

        return jepa_score(embed, inputs[key][index : index + 1])

    scores = torch.cat([scores_of(i) for i in range(len(samples))])
    print(json.dumps({"jepa_score_mean": scores.mean().item(), "jepa_score": scores.tolist()}, indent=2))


def cmd_embed(args: argparse.Namespace) -> None:
    from .evaluation import embed
    from .runs import open_run

    run = open_run(args.dir)
    dataset = _dataset(run.domain, run.config, args.data, "all", run.processor)
    embedded = embed(run.domain, run.encoder, dataset, progress=True)
    write_embeddings(embedded, Path(args.output))
    print(f"wrote {len(embedded.features)} embeddings of size {embedded.features.shape[1]} to {args.output}")


def write_embeddings(embedded, output: Path) -> None:
    """Parquet (`id`, `label` when known, `embedding`) or `.npy` (the matrix; ids and labels beside it in CSV)."""
    import numpy as np
    import pandas as pd

    features = embedded.features.numpy()
    table = pd.DataFrame({"id": embedded.ids or [str(i) for i in range(len(features))]})
    if embedded.labels is not None:
        labels = embedded.labels
        table["label"] = list(labels) if labels.ndim > 1 else labels
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix == ".parquet":
        table["embedding"] = list(features)
        table.to_parquet(output)
    elif output.suffix == ".npy":
        np.save(output, features)
        table.to_csv(output.with_suffix(".index.csv"), index=False)
    else:
        raise ValueError(f"--output {output}: use a .parquet or .npy file name")


def cmd_push(args: argparse.Namespace) -> None:
    import os

    from .hub import publish
    from .runs import open_run, write_card

    run = open_run(args.dir)
    write_card(run.domain, run.folder, run.config, repo_id=args.repo_id)
    token = os.environ.get("HF_TOKEN")  # else the logged-in token (`hf auth login`)
    url = publish(run.folder, args.repo_id, private=args.private, token=token)
    print(f"uploaded {run.folder} to {url}")


def cmd_demo(args: argparse.Namespace) -> None:
    import torch
    from transformers import AutoModel

    from .evaluation import evaluate_encoder
    from .processing import load_processor
    from .runs import record_evaluation

    names = [args.domain] if args.domain else sorted(installed_domains())
    if not names:
        raise LookupError("no JEPA domain package is installed; install one, e.g. `pip install jepa-ijepa`")
    rows = []
    args.overwrite = args.overwrite or args.output_dir is None  # the demo's own folders are scratch
    for name in names:
        domain = get_domain(name)
        started = time.time()
        output_dir, config, train = run_pretraining(domain, args)
        reloaded = AutoModel.from_pretrained(output_dir)
        processor = load_processor(output_dir, domain.processor_class)
        pretrained = evaluate_encoder(domain, reloaded, processor, args.data)
        record_evaluation(domain, output_dir, reloaded.config, pretrained, args.data)
        torch.manual_seed(args.seed)
        random_init = evaluate_encoder(domain, type(reloaded)(reloaded.config), processor, args.data)
        metric = pretrained.headline
        rows.append(
            (name, metric, pretrained.headline_value, random_init.metrics[metric], train, time.time() - started)
        )
        print(f"{name}: saved to {output_dir}, reloaded as {type(reloaded).__name__} through AutoModel")
        for key, value in pretrained.metrics.items():
            if key != metric and isinstance(value, int | float):
                print(f"  {key:<26} pretrained {value:>10.4f}  random init {random_init.metrics[key]:>10.4f}")
    print(f"\n{'domain':<12} {'metric':<24} {'pretrained':>10} {'random init':>11} {'loss':>15} {'minutes':>7}")
    for name, metric, ours, base, train, seconds in rows:
        loss = f"{train['initial_loss']:.3f}→{train['final_loss']:.3f}"
        print(f"{name:<12} {metric:<24} {ours:>10.4f} {base:>11.4f} {loss:>15} {seconds / 60:>7.1f}")


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="tiny", help="model size preset of the domain (see `jepa list DOMAIN`)")
    parser.add_argument(
        "--data",
        help="training data (a folder or file in the domain's format, or Parquet/Arrow/WebDataset-tar shard files, "
        "streamed where the domain supports it); default: embedded",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        help="set a config field (repeatable), e.g. --set num_rois=94 --set lead_names=I,II",
    )
    parser.add_argument("--output-dir", help="run folder (default runs/<domain>-<preset>)")
    parser.add_argument("--max-steps", type=int, help="optimizer steps (default: the preset's)")
    parser.add_argument("--batch-size", type=int, help="global batch size (default: the preset's)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the preset's)")
    parser.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"], default="no")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from <output-dir>/checkpoints/latest")
    parser.add_argument("--overwrite", action="store_true", help="clear an output folder that holds another run")
    parser.add_argument("--save-every", type=int, default=500, help="checkpoint every N steps")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument(
        "--shuffle-buffer", type=int, help="samples a streamed --data (shards) is shuffled in (default 1000; 0: none)"
    )
    parser.add_argument("--gradient-accumulation-steps", type=int, default=1)
    parser.add_argument("--activation-checkpointing", action="store_true", help="trade compute for memory")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the transformers (faster on GPUs; minutes to compile)"
    )
    parser.add_argument(
        "--fsdp", action="store_true", help="shard weights, gradients and optimizer state over the processes (FSDP2)"
    )
    parser.add_argument("--tensorboard", action="store_true", help="log to <output-dir>/tensorboard")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (tiny models often run faster on 1)")


def _add_run_verb(verbs, verb: str, func, text: str, data_help: str) -> argparse.ArgumentParser:
    sub = verbs.add_parser(verb, help=text, description=text)
    sub.add_argument("dir", help="a folder written by `jepa pretrain` or save_pretrained")
    sub.add_argument("--data", help=data_help)
    sub.set_defaults(func=func)
    return sub


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jepa", description="Pretrain, evaluate and share JEPA models.")
    verbs = parser.add_subparsers(dest="verb", required=True)
    listing = verbs.add_parser("list", help="installed domains; with a domain, its presets")
    listing.add_argument("domain", nargs="?", help="show this domain's presets")
    listing.set_defaults(func=cmd_list)

    pretrain_parser = verbs.add_parser(
        "pretrain",
        help="pretrain a domain's model",
        description="Pretrain with Accelerate (works under `accelerate launch` for many GPUs or nodes).",
    )
    pretrain_parser.add_argument("domain", help="domain name, e.g. ijepa (see `jepa list`)")
    _add_training_options(pretrain_parser)
    pretrain_parser.set_defaults(func=cmd_pretrain)

    _add_run_verb(
        verbs, "evaluate", cmd_evaluate, "probe a saved encoder on labelled train and test splits",
        "labelled data in the domain's format (train and test splits); default: the embedded data",
    )  # fmt: skip
    score = _add_run_verb(
        verbs, "score", cmd_score, "JEPA-SCORE (sum of log singular values of the input Jacobian) per sample",
        "data in the domain's format (its test split); default: the embedded test split",
    )  # fmt: skip
    score.add_argument("--num-samples", type=int, default=16, help="samples to score")
    embed = _add_run_verb(
        verbs, "embed", cmd_embed, "embeddings of every sample, pooled as the domain's probe pools them",
        "files in the domain's format (all of them are embedded); default: the embedded data",
    )  # fmt: skip
    embed.add_argument("--output", required=True, help="a .parquet (id, label, embedding) or .npy file")

    push = verbs.add_parser("push", help="upload a run folder with its model card to the Hugging Face Hub")
    push.add_argument("dir", help="a folder written by `jepa pretrain`")
    push.add_argument("--repo-id", required=True, help="e.g. your-name/ijepa-vit-tiny")
    push.add_argument("--private", action="store_true")
    push.epilog = "The token comes from HF_TOKEN or `hf auth login`; it is never taken on the command line."
    push.set_defaults(func=cmd_push)

    demo = verbs.add_parser(
        "demo",
        help="pretrain a tiny model on the embedded data, compare it with random init, reload it",
    )
    demo.add_argument("domain", nargs="?", help="one domain (default: every installed domain)")
    _add_training_options(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # one line per checkpoint file is noise here
    try:
        args.func(args)
    except ConfigFieldError as error:
        print(f"jepa {args.verb}: error: {error.cli_message()}", file=sys.stderr)
        return 2
    except (LookupError, ValueError, OSError, ImportError, StrictDataclassError) as error:
        print(f"jepa {args.verb}: error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:  # a non-finite loss or weights: the message names the checkpoint to resume
        if type(error).__name__ != "NonFiniteLossError":
            raise
        print(f"jepa {args.verb}: error: {error}", file=sys.stderr)
        return 3
    return 0
