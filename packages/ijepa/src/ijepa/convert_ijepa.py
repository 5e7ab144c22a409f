"""Interop with existing I-JEPA weights.

- `load_transformers_ijepa(folder)`: a transformers `IJepaModel` folder (the facebook/ijepa_* layout, either the
  current `layers.i.attention.q_proj` names or the older ViT-style `encoder.layer.i.attention.attention.query`
  names) → `ImageJepaModel`. Its learned position table is loaded as is into our (persistent) position buffer.
- `load_original_checkpoint(path)`: a facebookresearch/ijepa `.pth.tar` (`encoder` / `predictor` /
  `target_encoder`, DDP `module.` prefix) → `ImageJepaForPreTraining`; `.export_encoder()` is the target encoder.
  Read with `torch.load(weights_only=True)`: no arbitrary code runs.
- `export_to_transformers(encoder, folder)`: our encoder → a native transformers `IJepaModel` folder that plain
  transformers loads without this package, with a native image processor (`BitImageProcessor`: resize the
  shorter side to `image_size / eval_crop_ratio`, centre-crop `image_size`, the run's mean/std), so that
  `pipeline("image-feature-extraction", model=folder)` works on it.

Command line: `python -m ijepa.convert_ijepa {from-transformers,from-original,to-transformers} SOURCE OUTPUT`.
"""

import argparse
import json
import re
from pathlib import Path

import torch
from jepa_core.convert import load_strict
from jepa_core.modeling_utils import check_model_type
from jepa_core.processing import PROCESSOR_FILE
from safetensors.torch import load_file
from transformers import BitImageProcessor, IJepaConfig, IJepaModel

from .configuration_ijepa import ImageJepaConfig
from .modeling_ijepa import ImageJepaForPreTraining, ImageJepaModel
from .processor_ijepa import ImageJepaImageProcessor

# Head counts of the standard ViT widths (a checkpoint's weights do not record them).
HEADS_BY_WIDTH = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16, 1408: 16}

_LEGACY_TRANSFORMERS_NAMES = [
    (r"^encoder\.layer\.(\d+)\.", r"layers.\1."),
    (r"\.attention\.attention\.query\.", ".attention.q_proj."),
    (r"\.attention\.attention\.key\.", ".attention.k_proj."),
    (r"\.attention\.attention\.value\.", ".attention.v_proj."),
    (r"\.attention\.output\.dense\.", ".attention.o_proj."),
    (r"\.intermediate\.dense\.", ".mlp.fc1."),
    (r"\.output\.dense\.", ".mlp.fc2."),
]
_TRANSFORMERS_TO_OURS = [
    (r"^embeddings\.patch_embeddings\.projection\.", "patch_embed.proj."),
    (r"^embeddings\.position_embeddings$", "pos_embed"),
    (r"^layers\.(\d+)\.layernorm_before\.", r"encoder.blocks.\1.norm1."),
    (r"^layers\.(\d+)\.layernorm_after\.", r"encoder.blocks.\1.norm2."),
    (r"^layers\.(\d+)\.attention\.o_proj\.", r"encoder.blocks.\1.attn.proj."),
    (r"^layers\.(\d+)\.mlp\.", r"encoder.blocks.\1.mlp."),
    (r"^layernorm\.", "encoder.norm."),
]
_QKV = re.compile(r"^layers\.(\d+)\.attention\.([qkv])_proj\.(weight|bias)$")


def _rename(key: str, rules: list[tuple[str, str]]) -> str:
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


def _load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    load_strict(module, state, source, "an I-JEPA ViT")


# -- transformers IJepaModel ------------------------------------------------------------------------------


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    index = folder / "model.safetensors.index.json"
    if index.exists():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return {k: v for shard in shards for k, v in load_file(folder / shard).items()}
    if (folder / "model.safetensors").exists():
        return load_file(folder / "model.safetensors")
    if (folder / "pytorch_model.bin").exists():
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise FileNotFoundError(f"{folder} has no model.safetensors(.index.json) or pytorch_model.bin")


def config_from_transformers(hf: dict, **overrides) -> ImageJepaConfig:
    """Our config from a transformers IJepaConfig dict."""
    if hf.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"only the exact GELU activation is supported, the checkpoint uses {hf['hidden_act']!r}")
    image_size, patch_size = hf.get("image_size", 224), hf.get("patch_size", 16)
    if isinstance(image_size, list | tuple):
        if image_size[0] != image_size[1]:
            raise ValueError(f"only square images are supported, the checkpoint uses {image_size}")
        image_size = image_size[0]
    if isinstance(patch_size, list | tuple):
        patch_size = patch_size[0]
    values = dict(
        hidden_size=hf["hidden_size"], num_hidden_layers=hf["num_hidden_layers"],
        num_attention_heads=hf["num_attention_heads"], mlp_ratio=hf["intermediate_size"] / hf["hidden_size"],
        layer_norm_eps=hf.get("layer_norm_eps", 1e-12), image_size=image_size, patch_size=patch_size,
        num_channels=hf.get("num_channels", 3), qkv_bias=hf.get("qkv_bias", True),
    )  # fmt: skip
    return ImageJepaConfig(**{**values, **overrides})


def state_from_transformers(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers IJepaModel weights (current or ViT-style names, optional `ijepa.` prefix) → our encoder keys."""
    weights = {k.removeprefix("ijepa."): v for k, v in weights.items()}
    weights = {_rename(k, _LEGACY_TRANSFORMERS_NAMES): v for k, v in weights.items()}
    state, qkv = {}, {}
    for key, value in weights.items():
        if key.startswith(("pooler.", "classifier.")) or key == "embeddings.mask_token":
            continue
        match = _QKV.match(key)
        if match:
            qkv.setdefault((int(match[1]), match[3]), {})[match[2]] = value
        else:
            state[_rename(key, _TRANSFORMERS_TO_OURS)] = value
    for (layer, kind), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"layer {layer} has only the {sorted(parts)} parts of its attention {kind}")
        state[f"encoder.blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return state


def load_transformers_ijepa(folder: str | Path, **config_overrides) -> ImageJepaModel:
    """An `IJepaModel` folder saved by transformers (e.g. a download of facebook/ijepa_vith14_1k) → our encoder."""
    folder = Path(folder)
    check_model_type(folder, IJepaConfig.model_type)
    config = config_from_transformers(json.loads((folder / "config.json").read_text()), **config_overrides)
    model = ImageJepaModel(config)
    _load_strict(model, state_from_transformers(_read_weights(folder)), str(folder))
    return model.eval()


def processor_from_transformers(folder: str | Path, config: ImageJepaConfig) -> ImageJepaImageProcessor:
    """Our image processor for an imported folder: its saved mean/std and centre-crop share when it has a
    transformers image processor (ViT: plain resize → eval_crop_ratio 1; Bit/DINOv2: shortest edge + crop)."""
    path = Path(folder) / PROCESSOR_FILE
    values = json.loads(path.read_text()) if path.is_file() else {}
    ratio = 1.0
    shortest = (values.get("size") or {}).get("shortest_edge") if isinstance(values.get("size"), dict) else None
    if values.get("do_center_crop") and shortest:
        ratio = min(1.0, config.image_size / shortest)
    return ImageJepaImageProcessor(
        config.image_size, config.patch_size, config.num_channels, config.crop_scale, eval_crop_ratio=ratio,
        image_mean=values.get("image_mean", config.image_mean), image_std=values.get("image_std", config.image_std),
    )  # fmt: skip


def state_to_transformers(encoder: ImageJepaModel) -> dict[str, torch.Tensor]:
    """Our encoder weights → transformers IJepaModel keys."""
    width = encoder.config.hidden_size
    state = {
        "embeddings.patch_embeddings.projection.weight": encoder.patch_embed.proj.weight,
        "embeddings.patch_embeddings.projection.bias": encoder.patch_embed.proj.bias,
        "embeddings.position_embeddings": encoder.pos_embed,
        "layernorm.weight": encoder.encoder.norm.weight,
        "layernorm.bias": encoder.encoder.norm.bias,
    }
    for i, block in enumerate(encoder.encoder.blocks):
        pairs = {
            "layernorm_before": block.norm1, "layernorm_after": block.norm2, "attention.o_proj": block.attn.proj,
            "mlp.fc1": block.mlp.fc1, "mlp.fc2": block.mlp.fc2,
        }  # fmt: skip
        for name, module in pairs.items():
            state[f"layers.{i}.{name}.weight"] = module.weight
            state[f"layers.{i}.{name}.bias"] = module.bias
        for j, part in enumerate("qkv"):
            state[f"layers.{i}.attention.{part}_proj.weight"] = block.attn.qkv.weight[j * width : (j + 1) * width]
            if block.attn.qkv.bias is not None:
                state[f"layers.{i}.attention.{part}_proj.bias"] = block.attn.qkv.bias[j * width : (j + 1) * width]
    return {k: v.detach().clone().contiguous() for k, v in state.items()}


def native_image_processor(processor: ImageJepaImageProcessor) -> BitImageProcessor:
    """transformers' own image processor doing our evaluation transform: shorter side to
    `image_size / eval_crop_ratio` (bilinear), centre crop `image_size`, rescale 1/255, our mean/std."""
    size = processor.image_size
    return BitImageProcessor(
        do_resize=True, size={"shortest_edge": max(size, round(size / processor.eval_crop_ratio))}, resample=2,
        do_center_crop=True, crop_size={"height": size, "width": size}, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=list(processor.image_mean), image_std=list(processor.image_std),
        do_convert_rgb=processor.num_channels == 3,
    )  # fmt: skip


def export_to_transformers(
    encoder: ImageJepaModel, folder: str | Path, processor: ImageJepaImageProcessor | None = None
) -> IJepaModel:
    """Save `encoder` as a native transformers `IJepaModel` folder (config.json + model.safetensors) with a
    native image processor (preprocessor_config.json) matching `processor` (default: the config's)."""
    config = encoder.config
    if not config.use_bias or config.num_register_tokens or config.num_channels not in (1, 3):
        raise ValueError(
            "transformers' IJepaModel needs biases on every layer and no register tokens; this encoder has "
            f"use_bias={config.use_bias}, num_register_tokens={config.num_register_tokens}"
        )
    hf_config = IJepaConfig(
        hidden_size=config.hidden_size, num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads, intermediate_size=int(config.hidden_size * config.mlp_ratio),
        hidden_act="gelu", layer_norm_eps=config.layer_norm_eps, image_size=config.image_size,
        patch_size=config.patch_size, num_channels=config.num_channels, qkv_bias=config.qkv_bias,
    )  # fmt: skip
    model = IJepaModel(hf_config)
    model.load_state_dict(state_to_transformers(encoder))
    model.save_pretrained(folder)
    native_image_processor(processor or ImageJepaImageProcessor.from_config(config)).save_pretrained(folder)
    return model.eval()


# -- facebookresearch/ijepa .pth.tar -----------------------------------------------------------------------


def _strip_module(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k.removeprefix("module."): v for k, v in state.items()}


def _count_blocks(state: dict, prefix: str) -> int:
    return len({k.split(".")[1] for k in state if k.startswith(prefix + ".")})


def config_from_original(checkpoint: dict, **overrides) -> ImageJepaConfig:
    """Infer the sizes from the weights; head counts come from the standard ViT widths unless given."""
    encoder, predictor = _strip_module(checkpoint["encoder"]), _strip_module(checkpoint["predictor"])
    width, channels, patch, _ = encoder["patch_embed.proj.weight"].shape
    grid = round(encoder["pos_embed"].shape[1] ** 0.5)
    heads = overrides.pop("num_attention_heads", HEADS_BY_WIDTH.get(width))
    if heads is None:
        raise ValueError(f"encoder width {width} is not a standard ViT width; pass num_attention_heads=")
    pred_width = predictor["predictor_embed.weight"].shape[0]
    values = dict(
        hidden_size=width, num_hidden_layers=_count_blocks(encoder, "blocks"), num_attention_heads=heads,
        mlp_ratio=encoder["blocks.0.mlp.fc1.weight"].shape[0] / width, patch_size=patch, image_size=grid * patch,
        num_channels=channels, qkv_bias="blocks.0.attn.qkv.bias" in encoder, pred_hidden_size=pred_width,
        pred_num_hidden_layers=_count_blocks(predictor, "predictor_blocks"),
        pred_mlp_ratio=predictor["predictor_blocks.0.mlp.fc1.weight"].shape[0] / pred_width,
    )  # fmt: skip
    return ImageJepaConfig(**{**values, **overrides})


def _encoder_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    renames = [(r"^blocks\.", "encoder.blocks."), (r"^norm\.", "encoder.norm.")]
    return {_rename(k, renames): v for k, v in _strip_module(state).items()}


def _predictor_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    renames = [
        (r"^predictor_embed\.", "embed."), (r"^predictor_blocks\.", "blocks."), (r"^predictor_norm\.", "norm."),
        (r"^predictor_proj\.", "proj."),
    ]  # fmt: skip
    return {_rename(k, renames): v for k, v in _strip_module(state).items() if k != "predictor_pos_embed"}


def load_original_checkpoint(path: str | Path, **config_overrides) -> ImageJepaForPreTraining:
    """A facebookresearch/ijepa checkpoint → `ImageJepaForPreTraining` (context, target encoder and predictor)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    missing = [k for k in ("encoder", "predictor", "target_encoder") if k not in checkpoint]
    if missing:
        raise ValueError(f"{path} lacks {missing}; expected an I-JEPA checkpoint with encoder/predictor/target_encoder")
    config = config_from_original(checkpoint, **config_overrides)
    model = ImageJepaForPreTraining(config)
    _load_strict(model.context_encoder, _encoder_state(checkpoint["encoder"]), f"{path} [encoder]")
    _load_strict(model.target.encoder, _encoder_state(checkpoint["target_encoder"]), f"{path} [target_encoder]")
    _load_strict(model.predictor, _predictor_state(checkpoint["predictor"]), f"{path} [predictor]")
    positions = _strip_module(checkpoint["predictor"]).get("predictor_pos_embed")
    if positions is not None:
        model.predictor_pos_embed.copy_(positions.reshape(model.predictor_pos_embed.shape))
    return model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("direction", choices=["from-transformers", "from-original", "to-transformers"])
    parser.add_argument("source", help="transformers folder, .pth.tar file, or our saved encoder folder")
    parser.add_argument("output", help="folder to write")
    args = parser.parse_args(argv)
    if args.direction == "from-transformers":
        model = load_transformers_ijepa(args.source)
        model.save_pretrained(args.output)
        processor_from_transformers(args.source, model.config).save_pretrained(args.output)
    elif args.direction == "from-original":
        load_original_checkpoint(args.source).save_pretrained(args.output)
    else:
        source = Path(args.source)
        saved = ImageJepaImageProcessor.from_pretrained(source) if (source / PROCESSOR_FILE).is_file() else None
        export_to_transformers(ImageJepaModel.from_pretrained(source), args.output, saved)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
