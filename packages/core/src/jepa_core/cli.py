"""The `jepa` command: list, pretrain, evaluate, score, push and demo, for every installed domain."""

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch
from huggingface_hub.errors import StrictDataclassError
from transformers import AutoConfig, AutoModel

from .domain import Domain, available_domains, domain_for_model_type, get_domain
from .evaluation import jepa_score, pool_tokens
from .hub import model_card, publish, write_model_card
from .training import TrainingArguments, pretrain

logger = logging.getLogger("jepa")


def _config(domain: Domain, preset: str, overrides: dict):
    return domain.config_class.from_preset(preset, **{k: v for k, v in overrides.items() if v is not None})


def _dataset(domain: Domain, config, data: str | None, split: str):
    return domain.default_dataset(split, config) if data is None else domain.load_dataset(data, split, config)


def _card(domain: Domain, folder: Path, config, metrics: dict) -> None:
    card = model_card(
        config,
        metrics,
        library_name=domain.distribution,
        import_name=domain.import_name,
        domain=domain.name,
        paper_url=domain.paper_url,
        datasets=list(domain.datasets) or None,
        license=domain.license,
        description=domain.description,
    )
    write_model_card(folder, card)


def run_pretraining(domain: Domain, args: argparse.Namespace) -> tuple[Path, object, dict]:
    """Pretrain per the CLI arguments; returns (run folder, config, train metrics)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    config = _config(domain, args.preset, {"learning_rate": args.lr, "max_steps": args.max_steps})
    output_dir = Path(args.output_dir or f"runs/{domain.name}-{args.preset}")
    train_args = TrainingArguments.from_config(
        config,
        str(output_dir),
        batch_size=args.batch_size,
        mixed_precision=args.mixed_precision,
        seed=args.seed,
        resume=args.resume,
        save_every=args.save_every,
        num_workers=args.num_workers,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        activation_checkpointing=args.activation_checkpointing,
        tensorboard=args.tensorboard,
    )
    dataset = _dataset(domain, config, args.data, "train")
    if domain.adapt_config is not None:
        config = domain.adapt_config(config, dataset)
    torch.manual_seed(args.seed)
    model = domain.pretraining_class(config)
    if domain.prepare_model is not None:
        domain.prepare_model(model, dataset)
    metrics = pretrain(model, dataset, domain.collator(config, args.seed), train_args)
    processor = getattr(dataset, "processor", None)
    if hasattr(processor, "save_pretrained"):
        processor.save_pretrained(output_dir)
    return output_dir, config, metrics


def cmd_list(args: argparse.Namespace) -> None:
    domains = available_domains()
    if not domains:
        print("no JEPA domain package is installed; install one, e.g. `pip install jepa-ijepa`")
        return
    print(f"{'domain':<12} {'package':<14} {'presets':<48} description")
    for name, domain in sorted(domains.items()):
        print(f"{name:<12} {domain.distribution:<14} {', '.join(domain.presets):<48} {domain.description}")


def cmd_pretrain(args: argparse.Namespace) -> None:
    domain = get_domain(args.domain)
    output_dir, config, metrics = run_pretraining(domain, args)
    _card(domain, output_dir, config, {"train_" + k: v for k, v in metrics.items() if v is not None})
    print(json.dumps(metrics, indent=2))
    print(f"saved to {output_dir} (load with `import {domain.import_name}; AutoModel.from_pretrained(...)`)")


def _load_encoder(folder: str):
    if not (Path(folder) / "config.json").is_file():
        raise FileNotFoundError(f"{folder} has no config.json; pass a folder written by `jepa pretrain`")
    domain = domain_for_model_type(AutoConfig.from_pretrained(folder).model_type)
    return domain, domain.model_class.from_pretrained(folder)


def cmd_evaluate(args: argparse.Namespace) -> None:
    domain, encoder = _load_encoder(args.dir)
    metrics = domain.evaluate(encoder, encoder.config, args.data)
    print(json.dumps(metrics, indent=2))


def cmd_score(args: argparse.Namespace) -> None:
    domain, encoder = _load_encoder(args.dir)
    encoder.eval()
    dataset = _dataset(domain, encoder.config, args.data, "test")
    samples = [dataset[i] for i in range(min(args.num_samples, len(dataset)))]
    batch = domain.collator(encoder.config, 0).collate_samples(samples)
    inputs = batch[encoder.main_input_name]
    prefix = encoder.config.num_register_tokens

    def embed(x: torch.Tensor) -> torch.Tensor:
        return pool_tokens(encoder(**{encoder.main_input_name: x}).last_hidden_state, "mean", prefix)

    scores = jepa_score(embed, inputs)
    print(json.dumps({"jepa_score_mean": scores.mean().item(), "jepa_score": scores.tolist()}, indent=2))


def cmd_push(args: argparse.Namespace) -> None:
    folder = Path(args.dir)
    if not (folder / "README.md").is_file():
        domain, encoder = _load_encoder(args.dir)
        metrics_path = folder / "metrics.json"
        metrics = json.loads(metrics_path.read_text()).get("train", {}) if metrics_path.is_file() else {}
        _card(domain, folder, encoder.config, metrics)
    url = publish(folder, args.repo_id, private=args.private, token=args.token)
    print(f"uploaded {folder} to {url}")


def cmd_demo(args: argparse.Namespace) -> None:
    names = [args.domain] if args.domain else sorted(available_domains())
    if not names:
        raise LookupError("no JEPA domain package is installed; install one, e.g. `pip install jepa-ijepa`")
    rows = []
    for name in names:
        domain = get_domain(name)
        started = time.time()
        output_dir, config, train = run_pretraining(domain, args)
        reloaded = AutoModel.from_pretrained(output_dir)
        pretrained = domain.evaluate(reloaded, config, None)
        torch.manual_seed(args.seed)
        random_init = domain.evaluate(domain.model_class(config), config, None)
        metric = next(iter(pretrained))
        _card(domain, output_dir, config, {**{"train_" + k: v for k, v in train.items()}, **pretrained})
        rows.append((name, metric, pretrained[metric], random_init[metric], train, time.time() - started))
        print(f"{name}: saved to {output_dir}, reloaded as {type(reloaded).__name__} through AutoModel")
        for key in list(pretrained)[1:]:  # the other metrics; the headline one is in the table below
            print(f"  {key:<26} pretrained {pretrained[key]:>10.4f}  random init {random_init[key]:>10.4f}")
    print(f"\n{'domain':<12} {'metric':<22} {'pretrained':>10} {'random init':>11} {'loss':>15} {'minutes':>7}")
    for name, metric, ours, base, train, seconds in rows:
        loss = f"{train['initial_loss']:.3f}→{train['final_loss']:.3f}"
        print(f"{name:<12} {metric:<22} {ours:>10.4f} {base:>11.4f} {loss:>15} {seconds / 60:>7.1f}")


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="tiny", help="model size preset of the domain (see `jepa list`)")
    parser.add_argument("--data", help="training data (a folder or file in the domain's format); default: embedded")
    parser.add_argument("--output-dir", help="run folder (default runs/<domain>-<preset>)")
    parser.add_argument("--max-steps", type=int, help="optimizer steps (default: the preset's)")
    parser.add_argument("--batch-size", type=int, help="global batch size (default: the preset's)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the preset's)")
    parser.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"], default="no")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from <output-dir>/checkpoints/latest")
    parser.add_argument("--save-every", type=int, default=500, help="checkpoint every N steps")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--gradient-accumulation-steps", type=int, default=1)
    parser.add_argument("--activation-checkpointing", action="store_true", help="trade compute for memory")
    parser.add_argument("--tensorboard", action="store_true", help="log to <output-dir>/tensorboard")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (tiny models often run faster on 1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jepa", description="Pretrain, evaluate and share JEPA models.")
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("list", help="installed domains and their presets").set_defaults(func=cmd_list)

    pretrain_parser = verbs.add_parser(
        "pretrain",
        help="pretrain a domain's model",
        description="Pretrain with Accelerate (works under `accelerate launch` for many GPUs or nodes).",
    )
    pretrain_parser.add_argument("domain", help="domain name, e.g. ijepa (see `jepa list`)")
    _add_training_options(pretrain_parser)
    pretrain_parser.set_defaults(func=cmd_pretrain)

    for verb, func, text in [
        ("evaluate", cmd_evaluate, "downstream metrics (linear probe …) of a saved encoder"),
        ("score", cmd_score, "JEPA-SCORE (sum of log singular values of the input Jacobian) per sample"),
    ]:
        sub = verbs.add_parser(verb, help=text, description=text)
        sub.add_argument("dir", help="a folder written by `jepa pretrain` or save_pretrained")
        sub.add_argument("--data", help="evaluation data in the domain's format; default: embedded test split")
        if verb == "score":
            sub.add_argument("--num-samples", type=int, default=16, help="samples to score")
        sub.set_defaults(func=func)

    push = verbs.add_parser("push", help="upload a run folder with its model card to the Hugging Face Hub")
    push.add_argument("dir", help="a folder written by `jepa pretrain`")
    push.add_argument("--repo-id", required=True, help="e.g. your-name/ijepa-vit-tiny")
    push.add_argument("--private", action="store_true")
    push.add_argument("--token", help="Hub token (default: the logged-in one); never printed")
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
    except (LookupError, ValueError, FileNotFoundError, ImportError, StrictDataclassError) as error:
        print(f"jepa {args.verb}: error: {error}", file=sys.stderr)
        return 2
    return 0
