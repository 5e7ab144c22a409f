"""The authors' Brain-JEPA checkpoints (Eric-LRL/Brain-JEPA) → a run-style folder that `AutoModel` loads.

A pretraining checkpoint (`jepa-ep300.pth.tar`: `encoder` / `predictor` / `target_encoder` state dicts under DDP
`module.` names, plus optimiser state) and the 450-ROI gradient table the authors ship (`gradient_mapping_450.csv`:
one row per ROI, one column per gradient, no header) become:

- `OUT/` the chosen encoder (`--encoder target`, the default and what the paper evaluates, or `context`) as a
  `BrainJepaModel` with the gradients as its `brain_gradients` buffer, its processor and a model card;
- `OUT/pretraining/` the whole `BrainJepaForPreTraining` (context encoder, EMA target, predictor).

The sizes come from the tensor shapes (width, depth, MLP ratio, patch length, gradient count, predictor sizes; the
ROI count from the gradient table and the frame count from the fixed time table); the head count, which no tensor
records, comes from the standard ViT widths or `--num-attention-heads`. The file is read with
`torch.load(weights_only=True)`: a file that needs code to unpickle is refused, nothing in it runs.

Weight mapping: `patch_embed.proj` (Conv2d (1, p) over (1, ROIs, frames)) → `patch_embed` (Linear p → D);
`pos_embed_proj.predictor_pos_embed_proj` → `positions.gradient_proj`; `blocks` / `norm` → `encoder.blocks` /
`encoder.norm`; the fixed time sin-cos tables (`emb_h`) are checked against ours and dropped; predictor
`predictor_embed` / `predictor_blocks` / `predictor_norm` / `predictor_proj` / `mask_token` → `predictor.*`, its
`predictor_2dpe_proj.predictor_pos_embed_proj` → `predictor_positions_embed.gradient_proj`.

Command line: `python -m brain_jepa.convert_brain_jepa from-original CHECKPOINT OUT --gradients CSV`.
"""

import argparse
import re
from pathlib import Path

import numpy as np
import torch
from jepa_core.convert import NO_LICENSE_NOTE, load_strict, write_converted_card
from jepa_core.convert import read_checkpoint as read_foreign_checkpoint
from jepa_core.layers import sincos_1d

from .configuration_brain_jepa import BrainJepaConfig
from .domain import DOMAIN
from .modeling_brain_jepa import BrainJepaForPreTraining, BrainJepaModel
from .processor_brain_jepa import BrainJepaProcessor

SOURCE_URL = "https://github.com/Eric-LRL/Brain-JEPA"
PAPER_URL = "https://arxiv.org/abs/2409.19407"
# The repository ships no licence file: the weights are the authors' (all rights reserved unless they say otherwise).
LICENSE_NOTE = NO_LICENSE_NOTE
HEADS_BY_WIDTH = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16}
ENCODER_KEYS = ("target_encoder", "encoder")


def read_checkpoint(path: str | Path) -> dict:
    """`torch.load(weights_only=True)`, with errors that say what is wrong."""
    return read_foreign_checkpoint(
        path,
        "Brain-JEPA",
        "Re-save just the tensors from a trusted environment: "
        "torch.save({'encoder': ..., 'predictor': ..., 'target_encoder': ...}, path)",
    )


def strip_module(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the DDP `module.` prefix (and the downstream code's `encoder.` rename of it)."""
    return {re.sub(r"^(module|encoder)\.", "", k): v for k, v in state.items()}


def read_gradients(path: str | Path) -> torch.Tensor:
    """The authors' gradient table: (ROIs, gradients) floats, comma-separated, no header."""
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise ValueError(
            f"{path} is not a numeric CSV of ROI gradients (one row per ROI, no header): {error}"
        ) from error
    if not np.isfinite(table).all():
        raise ValueError(f"{path} contains NaN or infinite gradients")
    return torch.from_numpy(table).float()


def _count(state: dict, prefix: str) -> int:
    return len({k.split(".")[1] for k in state if k.startswith(prefix + ".")})


def _check_encoder_layout(state: dict, name: str) -> None:
    needed = ["patch_embed.proj.weight", "pos_embed_proj.emb_h", "pos_embed_proj.predictor_pos_embed_proj.weight"]
    missing = [k for k in needed if k not in state]
    if missing or not _count(state, "blocks"):
        hint = ""
        if "pos_embed_proj.emb_w" in state:
            hint = " (this is the add_w='origin' ablation with sin-cos ROI positions, not gradient positioning)"
        elif "pos_embed" in state:
            hint = " (it looks like a plain ViT / I-JEPA encoder with a position table)"
        raise ValueError(
            f"[{name}] is not a Brain-JEPA encoder: it lacks {missing or ['blocks.*']}{hint}; expected the state "
            "dict of Eric-LRL/Brain-JEPA's VisionTransformer with gradient positioning (add_w='mapping')"
        )
    weight = state["patch_embed.proj.weight"]
    if weight.ndim != 4 or weight.shape[1] != 1 or weight.shape[2] != 1:
        raise ValueError(
            f"[{name}] patch_embed.proj.weight has shape {tuple(weight.shape)}; Brain-JEPA's is (D, 1, 1, patch)"
        )


def config_from_original(
    encoder: dict, predictor: dict | None, num_rois: int, num_attention_heads: int | None = None, **overrides
) -> BrainJepaConfig:
    """Our config from the (prefix-free) encoder and predictor state dicts and the ROI count."""
    width, _, _, patch = encoder["patch_embed.proj.weight"].shape
    components = encoder["pos_embed_proj.predictor_pos_embed_proj.weight"].shape[1]
    tokens = encoder["pos_embed_proj.emb_h"].shape[0]
    if tokens % num_rois:
        raise ValueError(
            f"the checkpoint's position table has {tokens} tokens, not a multiple of the gradient table's "
            f"{num_rois} ROIs; is this the gradient file the model was trained with?"
        )
    heads = num_attention_heads or HEADS_BY_WIDTH.get(width)
    if heads is None:
        raise ValueError(f"encoder width {width} is not a standard ViT width; pass --num-attention-heads")
    values = dict(
        hidden_size=width, num_hidden_layers=_count(encoder, "blocks"), num_attention_heads=heads,
        mlp_ratio=encoder["blocks.0.mlp.fc1.weight"].shape[0] / width, patch_size=patch, num_rois=num_rois,
        num_frames=tokens // num_rois * patch, gradient_components=components,
        qkv_bias="blocks.0.attn.qkv.bias" in encoder, layer_norm_eps=1e-6,
    )  # fmt: skip
    if predictor is not None:
        pred_width = predictor["predictor_embed.weight"].shape[0]
        values.update(
            pred_hidden_size=pred_width, pred_num_hidden_layers=_count(predictor, "predictor_blocks"),
            pred_num_attention_heads=heads,
            pred_mlp_ratio=predictor["predictor_blocks.0.mlp.fc1.weight"].shape[0] / pred_width,
        )  # fmt: skip
    return BrainJepaConfig(**{**values, **overrides})


def _check_time_table(table: torch.Tensor, num_rois: int, patch_tokens: int, name: str) -> None:
    """The reference's fixed `emb_h` must be our time sin-cos (ROI-major tokens), else the model differs."""
    dim = table.shape[1]
    ours = sincos_1d(torch.arange(patch_tokens), dim).repeat(num_rois, 1)
    if ours.shape != table.shape or (ours - table.float()).abs().max() > 1e-4:
        raise ValueError(f"[{name}] its fixed time position table is not the sin-cos over time patches we compute")


def encoder_state(state: dict, gradients: torch.Tensor, config: BrainJepaConfig, name: str) -> dict:
    _check_time_table(state["pos_embed_proj.emb_h"], config.num_rois, config.num_time_patches, name)
    rules = [
        (r"^pos_embed_proj\.predictor_pos_embed_proj\.", "positions.gradient_proj."),
        (r"^blocks\.", "encoder.blocks."),
        (r"^norm\.", "encoder.norm."),
    ]
    out = {}
    for key, value in state.items():
        if key == "pos_embed_proj.emb_h":
            continue
        if key == "patch_embed.proj.weight":
            out["patch_embed.weight"] = value.reshape(value.shape[0], -1)
            continue
        if key == "patch_embed.proj.bias":
            out["patch_embed.bias"] = value
            continue
        for pattern, replacement in rules:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    out["brain_gradients"] = gradients
    return out


def predictor_state(state: dict, config: BrainJepaConfig) -> tuple[dict, dict]:
    """(predictor keys, predictor position-map keys)."""
    if "predictor_2dpe_proj.emb_h" in state:
        _check_time_table(state["predictor_2dpe_proj.emb_h"], config.num_rois, config.num_time_patches, "predictor")
    rules = [
        (r"^predictor_embed\.", "embed."), (r"^predictor_blocks\.", "blocks."), (r"^predictor_norm\.", "norm."),
        (r"^predictor_proj\.", "proj."),
    ]  # fmt: skip
    predictor, positions = {}, {}
    for key, value in state.items():
        if key.startswith("predictor_2dpe_proj.predictor_pos_embed_proj."):
            positions[key.replace("predictor_2dpe_proj.predictor_pos_embed_proj.", "gradient_proj.")] = value
        elif key != "predictor_2dpe_proj.emb_h":
            for pattern, replacement in rules:
                key = re.sub(pattern, replacement, key)
            predictor[key] = value
    return predictor, positions


def _load(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    load_strict(module, state, source, "a Brain-JEPA model")


def load_original_checkpoint(
    path: str | Path, gradients: str | Path | torch.Tensor, *, encoder: str = "target", **config_overrides
) -> tuple[BrainJepaModel, BrainJepaForPreTraining | None]:
    """The authors' checkpoint + gradient table → (the chosen encoder, the full pretraining model or None when the
    checkpoint holds only an encoder)."""
    if encoder not in ("target", "context"):
        raise ValueError(f"encoder must be 'target' or 'context', got {encoder!r}")
    checkpoint = read_checkpoint(path)
    gradients = gradients if isinstance(gradients, torch.Tensor) else read_gradients(gradients)
    present = [k for k in ("encoder", "predictor", "target_encoder") if isinstance(checkpoint.get(k), dict)]
    if not any(k in present for k in ENCODER_KEYS):
        raise ValueError(
            f"{path} has keys {sorted(checkpoint)[:8]}; expected a Brain-JEPA pretraining checkpoint with "
            "'encoder', 'predictor' and 'target_encoder' state dicts"
        )
    states = {k: strip_module(checkpoint[k]) for k in present}
    for name, state in states.items():
        if name != "predictor":
            _check_encoder_layout(state, f"{path} [{name}]")
    wanted = "target_encoder" if encoder == "target" else "encoder"
    if wanted not in states:
        raise ValueError(f"{path} has no '{wanted}' state dict; choose the encoder it holds ({present})")
    config = config_from_original(states[wanted], states.get("predictor"), gradients.shape[0], **config_overrides)
    if gradients.shape[1] != config.gradient_components:
        raise ValueError(
            f"the gradient table has {gradients.shape[1]} gradients per ROI but the checkpoint maps "
            f"{config.gradient_components}; pass the gradient file the model was trained with"
        )
    full = None
    if all(k in states for k in ("encoder", "predictor", "target_encoder")):
        full = BrainJepaForPreTraining(config)
        _load(full.context_encoder, encoder_state(states["encoder"], gradients, config, "encoder"), "encoder")
        _load(full.target.encoder, encoder_state(states["target_encoder"], gradients, config, "target"), "target")
        predictor, positions = predictor_state(states["predictor"], config)
        _load(full.predictor, predictor, f"{path} [predictor]")
        _load(full.predictor_positions_embed, positions, f"{path} [predictor positions]")
        model = full.target.encoder if encoder == "target" else full.context_encoder
    else:
        model = BrainJepaModel(config)
        _load(model, encoder_state(states[wanted], gradients, config, wanted), f"{path} [{wanted}]")
    return model.eval(), full


def write_card(folder: Path, config: BrainJepaConfig, source: str, encoder: str) -> None:
    description = (
        f"Converted from the authors' published Brain-JEPA checkpoint `{source}` ({SOURCE_URL}; the {encoder} "
        f"encoder) with `brain_jepa.convert_brain_jepa`. Licence: {LICENSE_NOTE}. Paper: Dong et al., "
        f"*Brain-JEPA: Brain Dynamics Foundation Model with Gradient Positioning and Spatiotemporal Masking*, "
        f"NeurIPS 2024 ({PAPER_URL})."
    )
    write_converted_card(
        DOMAIN, folder, config, description, PAPER_URL, "UK Biobank resting-state fMRI (the authors' run)"
    )


def convert(
    checkpoint: str | Path, output: str | Path, gradients: str | Path, *, encoder: str = "target", **overrides
) -> Path:
    """Write the run-style folder; returns it."""
    output = Path(output)
    model, full = load_original_checkpoint(checkpoint, gradients, encoder=encoder, **overrides)
    model.save_pretrained(output)
    if full is not None:
        full.save_pretrained(output / "pretraining")
    BrainJepaProcessor.from_config(model.config).save_pretrained(output)
    write_card(output, model.config, Path(checkpoint).name, encoder)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("direction", choices=["from-original"])
    parser.add_argument("checkpoint", help="the authors' .pth.tar (encoder / predictor / target_encoder)")
    parser.add_argument("output", help="folder to write")
    parser.add_argument("--gradients", required=True, help="the authors' gradient_mapping_450.csv")
    parser.add_argument("--encoder", choices=["target", "context"], default="target")
    parser.add_argument("--num-attention-heads", type=int, default=None, help="for a non-standard width")
    args = parser.parse_args(argv)
    overrides = {"num_attention_heads": args.num_attention_heads} if args.num_attention_heads else {}
    convert(args.checkpoint, args.output, args.gradients, encoder=args.encoder, **overrides)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
