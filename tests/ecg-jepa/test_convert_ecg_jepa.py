"""ECG-JEPA converter: random weights in the authors' exact minified-checkpoint layout (kweimann/ECG-JEPA
`models/vision_transformer.py` + `scripts/minify_pretrained_checkpoint.py`), converted, against the reference forward
pass written here from that layout."""

import math

import pytest
import torch
from ecg_jepa import EcgJepaModel
from ecg_jepa.convert_ecg_jepa import convert, load_original_checkpoint, main
from torch.nn import functional as F
from transformers import AutoModel

WIDTH, DEPTH, HEADS, LEADS, PATCH, LENGTH, REGISTERS = 48, 2, 4, 12, 25, 250, 1
CHANNELS = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def _config(**changes) -> dict:
    """`dataclasses.asdict(configs.pretrain.Config)` as the reference saves it (ViTS_all.yaml, shrunk)."""
    config = dict(
        sampling_frequency=500, channels=tuple(CHANNELS), channel_size=LENGTH, patch_size=PATCH, min_block_size=2,
        min_keep_ratio=0.15, max_keep_ratio=0.25, datasets={"mimic-iv-ecg": 0.7, "code-15": 0.3}, dim=WIDTH,
        depth=DEPTH, num_heads=HEADS, pred_dim=24, pred_depth=2, pred_num_heads=4, mlp_ratio=4.0, qkv_bias=False,
        dropout=0.0, attn_dropout=0.0, num_registers=REGISTERS, bias=False, norm_eps=1e-6, layer_scale_eps=0.0,
        steps=100_000, batch_size=2048, encoder_momentum=0.998, final_encoder_momentum=0.9995, learning_rate=1e-3,
        final_learning_rate=1e-6, learning_rate_warmup_steps=10_000, weight_decay=1e-2, final_weight_decay=1e-1,
        opt_betas=(0.9, 0.99), opt_eps=1e-6, gradient_clip=0, gradient_accumulation_steps=1,
        checkpoint_interval=10_000,
    )  # fmt: skip
    return {**config, **changes}


def _encoder_layout(gen: torch.Generator, bias: bool = False, norm_bias: bool = False) -> dict:
    state = {"patch_embed.proj.weight": 0.1 * torch.randn(WIDTH, LEADS, PATCH, generator=gen)}
    if bias:
        state["patch_embed.proj.bias"] = 0.1 * torch.randn(WIDTH, generator=gen)
    state["registers"] = 0.5 * torch.randn(1, REGISTERS, WIDTH, generator=gen)
    for i in range(DEPTH):
        shapes = {
            "norm1.weight": (WIDTH,), "attn.qkv.weight": (3 * WIDTH, WIDTH), "attn.proj.weight": (WIDTH, WIDTH),
            "norm2.weight": (WIDTH,), "mlp.fc1.weight": (4 * WIDTH, WIDTH), "mlp.fc2.weight": (WIDTH, 4 * WIDTH),
        }  # fmt: skip
        if bias:
            shapes.update({"attn.proj.bias": (WIDTH,), "mlp.fc1.bias": (4 * WIDTH,), "mlp.fc2.bias": (WIDTH,)})
        if bias or norm_bias:
            shapes.update({"norm1.bias": (WIDTH,), "norm2.bias": (WIDTH,)})
        for name, shape in shapes.items():
            base = 1.0 if name.startswith("norm") and name.endswith("weight") else 0.0
            state[f"blocks.{i}.{name}"] = base + 0.1 * torch.randn(shape, generator=gen)
    state["norm.weight"] = 1 + 0.1 * torch.randn(WIDTH, generator=gen)
    if bias:
        state["norm.bias"] = 0.1 * torch.randn(WIDTH, generator=gen)
    return state


def _minified(seed: int = 0, bias: bool = False, norm_bias: bool = False, **config) -> dict:
    gen = torch.Generator().manual_seed(seed)
    target = _encoder_layout(gen, bias, norm_bias)
    return {"model": {"target_encoder." + k: v for k, v in target.items()}, "config": _config(bias=bias, **config)}


def _full(seed: int = 0) -> dict:
    """A training checkpoint: `JEPA.state_dict()` (encoder, predictor, target_encoder), optimizer, config, step."""
    gen = torch.Generator().manual_seed(seed)
    model = {}
    for name in ("encoder", "target_encoder"):
        model.update({f"{name}.{k}": v for k, v in _encoder_layout(gen).items()})
    model["predictor.mask_token"] = torch.zeros(1, 1, 24)
    return {"model": model, "optimizer": {"state": {}, "param_groups": []}, "config": _config(), "step": 10_000}


# -- the reference forward pass, from the layout -------------------------------------------------------------


def _pos_embed(dim: int, num_patches: int) -> torch.Tensor:
    position = torch.arange(num_patches).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    table = torch.zeros(1, num_patches, dim)
    table[0, :, 0::2] = torch.sin(position * div_term)
    table[0, :, 1::2] = torch.cos(position * div_term)
    return table


def _linear(x, s, name):
    return x @ s[name + ".weight"].T + s.get(name + ".bias", 0)


def _norm(x, s, name):
    return F.layer_norm(x, (x.shape[-1],), s[name + ".weight"], s.get(name + ".bias"), eps=1e-6)


def _reference(checkpoint: dict, x: torch.Tensor, prefix: str = "target_encoder.", keep_registers=False):
    s = {k.removeprefix(prefix): v for k, v in checkpoint["model"].items() if k.startswith(prefix)}
    tokens = F.conv1d(x, s["patch_embed.proj.weight"], s.get("patch_embed.proj.bias"), stride=PATCH).transpose(1, 2)
    b, n, d = tokens.shape
    tokens = tokens + _pos_embed(d, LENGTH // PATCH)[:, :n]
    tokens = torch.cat([s["registers"].repeat(b, 1, 1), tokens], dim=1)
    for i in range(DEPTH):
        p = f"blocks.{i}."
        h = _norm(tokens, s, p + "norm1")
        q, k, v = _linear(h, s, p + "attn.qkv").reshape(b, -1, 3, HEADS, d // HEADS).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * (d // HEADS) ** -0.5).softmax(-1)
        tokens = tokens + _linear((attn @ v).transpose(1, 2).reshape(b, -1, d), s, p + "attn.proj")
        h = F.gelu(_linear(_norm(tokens, s, p + "norm2"), s, p + "mlp.fc1"))
        tokens = tokens + _linear(h, s, p + "mlp.fc2")
    tokens = _norm(tokens, s, "norm")
    return tokens if keep_registers else tokens[:, REGISTERS:]


def test_minified_checkpoint_matches_reference_forward(tmp_path):
    checkpoint = _minified()
    path = tmp_path / "ViTS_all.min.pt"
    torch.save(checkpoint, path)
    out = tmp_path / "converted"
    main(["from-original", str(path), str(out)])
    card = (out / "README.md").read_text()
    assert "kweimann/ECG-JEPA" in card and "2410.13867" in card and "licence" in card
    model = AutoModel.from_pretrained(out).eval()
    assert isinstance(model, EcgJepaModel)
    c = model.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.signal_length) == (WIDTH, DEPTH, HEADS, LENGTH)
    assert c.lead_names[3] == "aVR" and not c.use_bias and c.num_register_tokens == 1 and c.adam_beta2 == 0.99
    signals = torch.randn(3, LEADS, LENGTH)
    with torch.no_grad():
        ours = model(signals).last_hidden_state
        assert (ours[:, 1:] - _reference(checkpoint, signals)).abs().max() < 1e-5
        assert (ours - _reference(checkpoint, signals, keep_registers=True)).abs().max() < 1e-5
        # a shorter crop slices the position table as the reference does
        crop = signals[..., : LENGTH // 2]
        assert (model(crop).last_hidden_state[:, 1:] - _reference(checkpoint, crop)).abs().max() < 1e-5


def test_biased_variant_and_context_choice(tmp_path):
    checkpoint = _minified(seed=1, bias=True)
    checkpoint["model"] = {"module." + k: v for k, v in checkpoint["model"].items()}  # a DDP-wrapped save
    torch.save(checkpoint, tmp_path / "b.pt")
    model = load_original_checkpoint(tmp_path / "b.pt")
    assert model.config.use_bias
    signals = torch.randn(2, LEADS, LENGTH)
    plain = {"model": {k.removeprefix("module."): v for k, v in checkpoint["model"].items()}}
    with torch.no_grad():
        assert (model(signals).last_hidden_state[:, 1:] - _reference(plain, signals)).abs().max() < 1e-5
    full = _full(seed=2)
    torch.save(full, tmp_path / "chkpt_10000.pt")
    context = convert(tmp_path / "chkpt_10000.pt", tmp_path / "ctx", encoder="context")
    model = AutoModel.from_pretrained(context).eval()
    with torch.no_grad():
        diff = model(signals).last_hidden_state[:, 1:] - _reference(full, signals, prefix="encoder.")
    assert diff.abs().max() < 1e-5


def test_no_config_needs_sizes_from_shapes(tmp_path):
    checkpoint = _minified()
    del checkpoint["config"]
    torch.save(checkpoint, tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="pass the head count"):
        load_original_checkpoint(tmp_path / "bare.pt")
    model = load_original_checkpoint(tmp_path / "bare.pt", num_attention_heads=HEADS, signal_length=LENGTH)
    signals = torch.randn(1, LEADS, LENGTH)
    with torch.no_grad():
        assert (model(signals).last_hidden_state[:, 1:] - _reference(checkpoint, signals)).abs().max() < 1e-5


class TrainingConfig:
    """The repository's own config class: pickling it as an object makes the file need its code."""


def test_bad_inputs_are_clear_errors(tmp_path):
    checkpoint = _minified()
    torch.save(checkpoint, tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or damaged"):
        load_original_checkpoint(tmp_path / "truncated.pt")
    torch.save({"model": checkpoint["model"], "config": TrainingConfig()}, tmp_path / "pickled.pt")
    with pytest.raises(ValueError, match="unpickling would run code"):
        load_original_checkpoint(tmp_path / "pickled.pt")
    # another model: an I-JEPA checkpoint, and an image ViT under the right key
    torch.save({"encoder": {}, "predictor": {}, "target_encoder": {}}, tmp_path / "ijepa.pt")
    with pytest.raises(ValueError, match="expected an ECG-JEPA checkpoint"):
        load_original_checkpoint(tmp_path / "ijepa.pt")
    vit = {"model": {"target_encoder.patch_embed.proj.weight": torch.zeros(WIDTH, 3, 16, 16)}, "config": _config()}
    torch.save(vit, tmp_path / "vit.pt")
    with pytest.raises(ValueError, match="not an ECG-JEPA encoder"):
        load_original_checkpoint(tmp_path / "vit.pt")
    with pytest.raises(ValueError, match="no 'encoder.\\*' weights"):
        load_original_checkpoint(tmp_path / "good.pt", encoder="context")
    # the early Block kept LayerNorm biases under bias=False: our model cannot hold them
    torch.save(_minified(norm_bias=True), tmp_path / "early.pt")
    with pytest.raises(ValueError, match="norm_bias"):
        load_original_checkpoint(tmp_path / "early.pt")
    torch.save(_minified(layer_scale_eps=0.1), tmp_path / "ls.pt")
    with pytest.raises(ValueError, match="LayerScale"):
        load_original_checkpoint(tmp_path / "ls.pt")
