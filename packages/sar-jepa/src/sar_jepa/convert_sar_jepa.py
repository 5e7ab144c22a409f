"""The authors' SAR-JEPA checkpoints (waterdisappear/SAR-JEPA) → a run-style folder that `AutoModel` loads.

The published pretraining checkpoints are MAE-style `{"model": state_dict, "optimizer", "epoch", "scaler", "args"}`
files of `Pretraining/models_lomar.py`'s `MaskedAutoencoderViT`: a ViT with a CLS token and iRPE relative positions
in every block (`vision_transformer_irpe.Block`: contextual product method on keys, ratio 1.9, one head-shared
table, one extra bucket for the CLS token, `skip=1`), a mask token, and a LoMaR decoder regressing the multi-scale
gradient-by-ratio targets. The encoder becomes a `SarJepaModel` (`position_encoding="relative"`), with its processor
and a model card. The fixed sin-cos `pos_embed` of the checkpoint is never added by the reference (only iRPE
positions are used) and is read only for the image size.

iRPE → our `RelativePositionAttention`: the reference adds `q · W[:, bucket]` (q unscaled) to the scaled logits and
gives the CLS row and column an extra bucket; ours adds `(q / √d) · R[:, bucket]` on the patch tokens only. Per query
row, softmax ignores a constant, so subtracting the CLS-column term `q · W[:, cls]` from the whole row leaves the
attention unchanged: `R = √d · (W[:, :n] − W[:, cls])` for every head reproduces the reference exactly (the CLS query
row is a constant row in the reference, zero in ours). Anything else (no `rpe_k`, bias mode, iRPE on queries or
values, a cross/euclidean method) is refused.

Config from the shapes: width, depth, MLP ratio, patch size, channels, image size (from `pos_embed`, else
`--image-size`), bucket count; the head count from the standard ViT widths or `--num-attention-heads`; the iRPE
ratio (the bucket count fixes only ⌊2·ratio⌋) from `--relative-position-ratio` (the paper's 1.9 by default).
The file is read with `torch.load(weights_only=True)`, allowing only `argparse.Namespace` (the `args` entry of
MAE-style checkpoints, plain attribute data); a file that needs any other code to unpickle is refused.

Command line: `python -m sar_jepa.convert_sar_jepa from-original CHECKPOINT OUT [--image-size 224]`.
"""

import argparse
import math
import re
from pathlib import Path

import torch
from jepa_core.convert import NO_LICENSE_NOTE, write_converted_card
from jepa_core.convert import read_checkpoint as read_foreign_checkpoint

from .configuration_sar_jepa import SarJepaConfig
from .domain import DOMAIN
from .modeling_sar_jepa import SarJepaModel, num_relative_buckets
from .processor_sar_jepa import SarJepaProcessor

SOURCE_URL = "https://github.com/waterdisappear/SAR-JEPA"
PAPER_URL = "https://arxiv.org/abs/2311.15153"
LICENSE_NOTE = NO_LICENSE_NOTE
HEADS_BY_WIDTH = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16}
# decoder, target filters and the (unused) MAE position table: not part of the encoder
_NOT_ENCODER = re.compile(r"^(decoder_|encoder_pred\.|sarfeature\d*\.|head\.|fc_norm\.|pos_embed$)")


def read_checkpoint(path: str | Path) -> dict:
    """`torch.load(weights_only=True)` (plus `argparse.Namespace`), with errors that say what is wrong."""
    return read_foreign_checkpoint(
        path,
        "SAR-JEPA",
        "Re-save just the state dict from a trusted environment: torch.save({'model': sd}, path)",
        allowed=(argparse.Namespace,),
    )


def model_weights(checkpoint: dict, source: str) -> dict[str, torch.Tensor]:
    """The state dict (`checkpoint["model"]`, or the checkpoint itself), DDP `module.` prefixes dropped."""
    state = checkpoint.get("model", checkpoint)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{source} has keys {sorted(checkpoint)[:8]}; expected a SAR-JEPA {{'model': state_dict}}")
    state = {re.sub(r"^module\.", "", k): v for k, v in state.items()}
    weight = state.get("patch_embed.proj.weight")
    if weight is None or weight.ndim != 4 or "cls_token" not in state or "blocks.0.attn.qkv.weight" not in state:
        raise ValueError(
            f"{source} is not a SAR-JEPA ViT: expected `patch_embed.proj.weight` (D, C, p, p), `cls_token` and "
            "`blocks.*.attn.qkv` (the encoder of Pretraining/models_lomar.py)"
        )
    if "blocks.0.attn.rpe_k.lookup_table_weight" not in state:
        other = [k for k in state if ".attn.rpe_" in k][:3]
        found = f", only {other}" if other else ""
        raise ValueError(
            f"{source} has no iRPE key table (`blocks.*.attn.rpe_k.lookup_table_weight`){found}; "
            "SarJepaModel reproduces iRPE's contextual product method on keys only (the SAR-JEPA checkpoints); "
            "a ViT without relative positions is not a SAR-JEPA encoder"
        )
    return state


def _count(state: dict, prefix: str) -> int:
    return len({k.split(".")[1] for k in state if k.startswith(prefix + ".")})


def config_from_original(
    state: dict,
    num_attention_heads: int | None = None,
    image_size: int | None = None,
    relative_position_ratio: float = 1.9,
    **overrides,
) -> SarJepaConfig:
    width, channels, patch, _ = state["patch_embed.proj.weight"].shape
    if image_size is None:
        if "pos_embed" not in state:
            raise ValueError("the checkpoint has no pos_embed to read the image size from; pass --image-size")
        image_size = math.isqrt(state["pos_embed"].shape[1] - 1) * patch
    heads = num_attention_heads or HEADS_BY_WIDTH.get(width)
    if heads is None:
        raise ValueError(f"encoder width {width} is not a standard ViT width; pass --num-attention-heads")
    values = dict(
        hidden_size=width, num_hidden_layers=_count(state, "blocks"), num_attention_heads=heads,
        mlp_ratio=state["blocks.0.mlp.fc1.weight"].shape[0] / width, patch_size=patch, num_channels=channels,
        image_size=image_size, num_register_tokens=state["cls_token"].shape[1], qkv_bias="blocks.0.attn.qkv.bias"
        in state, layer_norm_eps=1e-6, position_encoding="relative", relative_position_ratio=relative_position_ratio,
    )  # fmt: skip
    if "encoder_pred.weight" in state:
        values["pred_hidden_size"] = state["encoder_pred.weight"].shape[0]
        values["pred_num_hidden_layers"] = _count(state, "decoder_blocks") or 1
    grid = image_size // patch
    values.setdefault("window_size", min(7, grid))
    values.setdefault("num_windows", min(4, grid - values["window_size"] + 1))
    return SarJepaConfig(**{**values, **overrides})


def relative_keys(table: torch.Tensor, config: SarJepaConfig, source: str) -> torch.Tensor:
    """iRPE `lookup_table_weight` (1 or H, head_dim, n [+ 1 CLS bucket]) → our (H, head_dim, n)."""
    heads, head_dim = config.num_attention_heads, config.hidden_size // config.num_attention_heads
    n = num_relative_buckets(config.relative_position_ratio)
    if (
        table.ndim != 3
        or table.shape[0] not in (1, heads)
        or table.shape[1] != head_dim
        or table.shape[2]
        not in (
            n,
            n + 1,
        )
    ):
        raise ValueError(
            f"{source}: iRPE table of shape {tuple(table.shape)} does not fit {heads} heads of {head_dim} and "
            f"{n} product buckets (+1 for the CLS token) of ratio {config.relative_position_ratio}; pass the "
            "checkpoint's --num-attention-heads / --relative-position-ratio"
        )
    table = table.float()
    patches = table[:, :, :n]
    if table.shape[2] == n + 1:
        patches = patches - table[:, :, n:]  # softmax shift: the CLS column's term, removed from the whole row
    return (patches * math.sqrt(head_dim)).expand(heads, -1, -1).clone()


def encoder_state(state: dict, config: SarJepaConfig, source: str) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        if _NOT_ENCODER.match(key):
            continue
        if key.endswith(".attn.rpe_k.lookup_table_weight"):
            out[key.replace("rpe_k.lookup_table_weight", "relative_keys")] = relative_keys(value, config, source)
        else:
            out[key] = value
    return out


def load_original_checkpoint(path: str | Path, **config_overrides) -> SarJepaModel:
    """The authors' checkpoint → our `SarJepaModel` (the trained encoder; SAR-JEPA has no EMA target)."""
    state = model_weights(read_checkpoint(path), str(path))
    config = config_from_original(state, **config_overrides)
    model = SarJepaModel(config)
    converted = encoder_state(state, config, str(path))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(converted) - {"pos_embed"})
    unexpected = sorted(set(converted) - set(expected))
    wrong = [k for k in converted if k in expected and converted[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path} does not match a SAR-JEPA ViT of the inferred configuration: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}"
        )
    model.load_state_dict(converted, strict=False)  # pos_embed: our sin-cos buffer, unused in relative mode
    return model.eval()


def convert(checkpoint: str | Path, output: str | Path, **overrides) -> Path:
    output = Path(output)
    model = load_original_checkpoint(checkpoint, **overrides)
    model.save_pretrained(output)
    SarJepaProcessor.from_config(model.config).save_pretrained(output)
    description = (
        f"Converted from the authors' published SAR-JEPA checkpoint `{Path(checkpoint).name}` ({SOURCE_URL}) with "
        f"`sar_jepa.convert_sar_jepa` (the encoder; the LoMaR decoder is not converted). Licence: {LICENSE_NOTE}. "
        "Paper: Li et al., *Predicting Gradient is Better: Exploring Self-Supervised Learning for SAR ATR with a "
        f"Joint-Embedding Predictive Architecture*, ISPRS J. P&RS 2024 ({PAPER_URL})."
    )
    write_converted_card(
        DOMAIN, output, model.config, description, PAPER_URL, "the authors' SAR target pretraining collection"
    )
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("direction", choices=["from-original"])
    parser.add_argument("checkpoint", help="the authors' .pth (MAE-style {'model': ...})")
    parser.add_argument("output", help="folder to write")
    parser.add_argument("--image-size", type=int, default=None, help="when the checkpoint has no pos_embed")
    parser.add_argument("--num-attention-heads", type=int, default=None, help="for a non-standard width")
    parser.add_argument("--relative-position-ratio", type=float, default=1.9, help="iRPE ratio (paper: 1.9)")
    args = parser.parse_args(argv)
    overrides = dict(image_size=args.image_size, relative_position_ratio=args.relative_position_ratio)
    if args.num_attention_heads:
        overrides["num_attention_heads"] = args.num_attention_heads
    convert(args.checkpoint, args.output, **overrides)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
