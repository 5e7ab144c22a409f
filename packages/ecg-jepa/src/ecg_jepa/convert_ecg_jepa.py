"""The authors' ECG-JEPA checkpoints (kweimann/ECG-JEPA) → a run-style folder that `AutoModel` loads.

The published (minified) checkpoints hold `{"model": {"target_encoder.*": tensors}, "config": dict}` (full training
checkpoints also hold `encoder.*` / `predictor.*`, `optimizer` and `step`); `config` is `dataclasses.asdict` of the
repository's `configs.pretrain.Config` (its `ViTXS/S/B_*.yaml`). The chosen encoder (`--encoder target`, the
default and what the paper evaluates, or `context`) becomes an `EcgJepaModel` with its processor and a model card.

The config is mapped field by field (dim → hidden_size, depth → num_hidden_layers, num_registers →
num_register_tokens, bias → use_bias, channel_size → signal_length, channels → lead_names, ...); without a
`config` entry the sizes come from the tensor shapes and the head count from `--num-attention-heads` (or the
paper's ViT widths). The file is read with `torch.load(weights_only=True)`: a file that needs code to unpickle is
refused, nothing in it runs.

Weight mapping: `patch_embed.proj` → `patch_embed.proj` (Conv1d, same shape); `registers` →
`encoder.prefix_tokens`; `blocks` / `norm` → `encoder.blocks` / `encoder.norm`; a patch-embedding bias (runs
with `bias: true`; ours has none) is a constant per token and is folded into our persistent position table.
The sin-cos table is not stored
(a non-persistent buffer in the reference) and is the same interleaved table as ours. Our model returns the
register token first (`last_hidden_state[:, 1:]` is the reference's default output).

Command line: `python -m ecg_jepa.convert_ecg_jepa from-original CHECKPOINT OUT [--encoder target|context]`.
"""

import argparse
import re
from pathlib import Path

import torch
from jepa_core.convert import NO_LICENSE_NOTE, write_converted_card
from jepa_core.convert import read_checkpoint as read_foreign_checkpoint

from .configuration_ecg_jepa import STANDARD_LEADS, EcgJepaConfig
from .domain import DOMAIN
from .modeling_ecg_jepa import EcgJepaModel, interleaved_sincos
from .processor_ecg_jepa import EcgJepaProcessor

SOURCE_URL = "https://github.com/kweimann/ECG-JEPA"
PAPER_URL = "https://arxiv.org/abs/2410.13867"
LICENSE_NOTE = NO_LICENSE_NOTE
HEADS_BY_WIDTH = {192: 4, 384: 6, 768: 12}  # the paper's ViT-XS / S / B
_LEAD_NAMES = {name.upper(): name for name in STANDARD_LEADS}


def read_checkpoint(path: str | Path) -> dict:
    """`torch.load(weights_only=True)`, with errors that say what is wrong."""
    return read_foreign_checkpoint(
        path,
        "ECG-JEPA",
        "Re-save the tensors and a plain-dict config from a trusted environment, as the authors' "
        "scripts/minify_pretrained_checkpoint.py does",
    )


def encoder_weights(checkpoint: dict, encoder: str, source: str) -> dict[str, torch.Tensor]:
    """The chosen encoder's prefix-free weights from `checkpoint["model"]` (DDP `module.` and `torch.compile`
    `_orig_mod.` prefixes dropped)."""
    model = checkpoint.get("model")
    if not isinstance(model, dict):
        raise ValueError(
            f"{source} has keys {sorted(checkpoint)[:8]}; expected an ECG-JEPA checkpoint "
            "{'model': {'target_encoder.*': ...}, 'config': {...}}"
        )
    prefix = {"target": "target_encoder.", "context": "encoder."}[encoder]
    model = {re.sub(r"^(module\.|_orig_mod\.)+", "", k): v for k, v in model.items()}
    state = {k.removeprefix(prefix): v for k, v in model.items() if k.startswith(prefix)}
    if not state:
        found = sorted({k.split(".")[0] for k in model})
        raise ValueError(f"{source} has no '{prefix}*' weights (it holds {found}); choose the encoder it holds")
    weight = state.get("patch_embed.proj.weight")
    if weight is None or weight.ndim != 3 or not any(k.startswith("blocks.") for k in state):
        raise ValueError(
            f"{source} [{prefix.rstrip('.')}] is not an ECG-JEPA encoder: expected a Conv1d patch embedding "
            "`patch_embed.proj.weight` (D, leads, patch) and `blocks.*`"
        )
    return state


def _count(state: dict, prefix: str) -> int:
    return len({k.split(".")[1] for k in state if k.startswith(prefix + ".")})


def config_from_original(
    state: dict, original: dict | None, num_attention_heads: int | None = None, **overrides
) -> EcgJepaConfig:
    """Our config from the reference config dict (or, without one, from the tensor shapes)."""
    width, leads, patch = state["patch_embed.proj.weight"].shape
    registers = state["registers"].shape[1] if "registers" in state else 0
    values: dict = dict(
        hidden_size=width, num_hidden_layers=_count(state, "blocks"), patch_size=patch, num_leads=leads,
        mlp_ratio=state["blocks.0.mlp.fc1.weight"].shape[0] / width, num_register_tokens=registers,
        qkv_bias="blocks.0.attn.qkv.bias" in state, use_bias="blocks.0.attn.proj.bias" in state,
    )  # fmt: skip
    if original:
        if original.get("layer_scale_eps"):
            raise ValueError(
                f"the checkpoint uses LayerScale (layer_scale_eps={original['layer_scale_eps']}); EcgJepaModel's "
                "blocks have none: the model needs a LayerScale option (per-channel `attn_ls` / `mlp_ls` weights)"
            )
        steps = original.get("steps") or 1
        channels = [_LEAD_NAMES.get(str(c).upper(), str(c)) for c in original.get("channels", [])]
        betas = original.get("opt_betas") or (0.9, 0.99)
        mapped = dict(
            num_attention_heads=original.get("num_heads"), pred_hidden_size=original.get("pred_dim"),
            pred_num_hidden_layers=original.get("pred_depth"), pred_num_attention_heads=original.get("pred_num_heads"),
            layer_norm_eps=original.get("norm_eps"), sampling_rate=original.get("sampling_frequency"),
            signal_length=original.get("channel_size"), lead_names=channels or None,
            min_block_size=original.get("min_block_size"), keep_ratio_min=original.get("min_keep_ratio"),
            keep_ratio_max=original.get("max_keep_ratio"), ema_momentum_start=original.get("encoder_momentum"),
            ema_momentum_end=original.get("final_encoder_momentum"), learning_rate=original.get("learning_rate"),
            final_learning_rate=original.get("final_learning_rate"), weight_decay=original.get("weight_decay"),
            final_weight_decay=original.get("final_weight_decay"), adam_beta1=float(betas[0]),
            adam_beta2=float(betas[1]), adam_epsilon=original.get("opt_eps"),
            train_batch_size=original.get("batch_size"), max_steps=original.get("steps"),
            warmup_ratio=(original.get("learning_rate_warmup_steps") or 0) / steps,
        )  # fmt: skip
        values.update({k: v for k, v in mapped.items() if v is not None})
        if original.get("dim") not in (None, width) or original.get("num_registers") not in (None, registers):
            raise ValueError("the checkpoint's config does not describe its weights (dim / num_registers differ)")
    if num_attention_heads:
        values["num_attention_heads"] = num_attention_heads
    if "num_attention_heads" not in values:
        heads = HEADS_BY_WIDTH.get(width)
        if heads is None:
            raise ValueError(f"no config in the checkpoint and width {width} is not the paper's; pass the head count")
        values["num_attention_heads"] = heads
    if "lead_names" not in values and leads == len(STANDARD_LEADS):
        values["lead_names"] = list(STANDARD_LEADS)
    values.setdefault("pred_num_attention_heads", values["num_attention_heads"])
    values = {**values, **overrides}
    length = values.get("signal_length", 5000)
    crop = min(EcgJepaConfig.eval_crop_length, length)
    values.setdefault("eval_crop_length", crop)
    values.setdefault("eval_crop_stride", max(patch, min(EcgJepaConfig.eval_crop_stride, crop // 2 // patch * patch)))
    return EcgJepaConfig(**values)


def encoder_state(state: dict[str, torch.Tensor], config: EcgJepaConfig, source: str) -> dict[str, torch.Tensor]:
    if not config.use_bias and "blocks.0.norm1.bias" in state:
        if any(v.abs().max() > 0 for k, v in state.items() if re.search(r"norm[12]\.bias$", k)):
            raise ValueError(
                f"{source} was trained with the repository's early `Block`, whose LayerNorms keep a bias while "
                "`bias=False` removes every other bias; EcgJepaModel ties both to `use_bias`, so the model needs "
                "a separate `norm_bias` option to hold these weights"
            )
        state = {k: v for k, v in state.items() if not re.search(r"norm[12]\.bias$", k)}
    out = {}
    for key, value in state.items():
        if key == "registers":
            out["encoder.prefix_tokens"] = value
        elif key.startswith(("blocks.", "norm.")):
            out["encoder." + key] = value
        elif key == "pos_embed":
            continue  # persistent=False in the reference; present only in hand-made files
        elif key == "patch_embed.proj.bias":
            # our Conv1d has no bias (the paper's runs have none); a biased run's bias is a constant added to every
            # patch token, so it joins our persistent position table, exactly
            out["pos_embed"] = interleaved_sincos(config.num_patches, config.hidden_size) + value
        else:
            out[key] = value
    return out


def load_original_checkpoint(
    path: str | Path, *, encoder: str = "target", num_attention_heads: int | None = None, **overrides
) -> EcgJepaModel:
    """The authors' checkpoint → our `EcgJepaModel` (the target encoder unless `encoder="context"`)."""
    if encoder not in ("target", "context"):
        raise ValueError(f"encoder must be 'target' or 'context', got {encoder!r}")
    checkpoint = read_checkpoint(path)
    state = encoder_weights(checkpoint, encoder, str(path))
    original = checkpoint.get("config") if isinstance(checkpoint.get("config"), dict) else None
    config = config_from_original(state, original, num_attention_heads, **overrides)
    model = EcgJepaModel(config)
    state = encoder_state(state, config, str(path))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state) - {"pos_embed"})  # the table is ours unless a bias joined it
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in state if k in expected and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path} does not match an ECG-JEPA ViT of the inferred configuration: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}"
        )
    model.load_state_dict(state, strict=False)
    return model.eval()


def convert(checkpoint: str | Path, output: str | Path, *, encoder: str = "target", **overrides) -> Path:
    output = Path(output)
    model = load_original_checkpoint(checkpoint, encoder=encoder, **overrides)
    model.save_pretrained(output)
    EcgJepaProcessor.from_config(model.config).save_pretrained(output)
    description = (
        f"Converted from the authors' published ECG-JEPA checkpoint `{Path(checkpoint).name}` ({SOURCE_URL}; the "
        f"{encoder} encoder) with `ecg_jepa.convert_ecg_jepa`. Licence: {LICENSE_NOTE}. Paper: Weimann & Conrad, "
        f"*Self-Supervised Pre-Training with Joint-Embedding Predictive Architecture Boosts ECG Classification "
        f"Performance* ({PAPER_URL})."
    )
    write_converted_card(
        DOMAIN, output, model.config, description, PAPER_URL, "the authors' pretraining ECG collection"
    )
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("direction", choices=["from-original"])
    parser.add_argument("checkpoint", help="the authors' .pt (minified or full)")
    parser.add_argument("output", help="folder to write")
    parser.add_argument("--encoder", choices=["target", "context"], default="target")
    parser.add_argument("--num-attention-heads", type=int, default=None, help="when the checkpoint has no config")
    args = parser.parse_args(argv)
    convert(args.checkpoint, args.output, encoder=args.encoder, num_attention_heads=args.num_attention_heads)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
