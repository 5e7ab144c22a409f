"""SAR-JEPA converter: random weights in the authors' exact checkpoint layout (waterdisappear/SAR-JEPA
`Pretraining/models_lomar.py` + `vision_transformer_irpe.py` + `irpe.py`, MAE-style `{'model', 'args', ...}`),
converted, against the reference iRPE forward pass written here from that layout."""

import argparse
import math

import pytest
import torch
from sar_jepa import SarJepaModel
from sar_jepa.convert_sar_jepa import load_original_checkpoint, main
from torch.nn import functional as F
from transformers import AutoModel

WIDTH, DEPTH, HEADS, PATCH, IMAGE, DEC_WIDTH, DEC_DEPTH = 32, 2, 4, 8, 48, 16, 1
RATIO = 1.9
ALPHA, BETA, GAMMA = RATIO, 2 * RATIO, 8 * RATIO
BUCKETS = (2 * int(BETA) + 1) ** 2 + 1  # product buckets + the CLS (skip) bucket


def _block(prefix: str, width: int, heads: int, gen: torch.Generator) -> dict:
    shapes = {
        "norm1.weight": (width,), "norm1.bias": (width,), "attn.qkv.weight": (3 * width, width),
        "attn.qkv.bias": (3 * width,), "attn.proj.weight": (width, width), "attn.proj.bias": (width,),
        "attn.rpe_k.lookup_table_weight": (1, width // heads, BUCKETS), "norm2.weight": (width,),
        "norm2.bias": (width,), "mlp.fc1.weight": (4 * width, width), "mlp.fc1.bias": (4 * width,),
        "mlp.fc2.weight": (width, 4 * width), "mlp.fc2.bias": (width,),
    }  # fmt: skip
    state = {}
    for name, shape in shapes.items():
        base = 1.0 if name.startswith("norm") and name.endswith("weight") else 0.0
        scale = 0.5 if "rpe" in name else 0.1
        state[prefix + name] = base + scale * torch.randn(shape, generator=gen)
    return state


def _layout(seed: int = 0) -> dict:
    """`MaskedAutoencoderViT.state_dict()` in its registration order (encoder, decoder, gradient filters)."""
    gen = torch.Generator().manual_seed(seed)
    grid = IMAGE // PATCH
    state = {
        "cls_token": 0.5 * torch.randn(1, 1, WIDTH, generator=gen),
        "pos_embed": torch.zeros(1, grid * grid + 1, WIDTH),
        "patch_embed.proj.weight": 0.1 * torch.randn(WIDTH, 1, PATCH, PATCH, generator=gen),
        "patch_embed.proj.bias": 0.1 * torch.randn(WIDTH, generator=gen),
    }
    for i in range(DEPTH):
        state.update(_block(f"blocks.{i}.", WIDTH, HEADS, gen))
    state.update({"norm.weight": torch.ones(WIDTH), "norm.bias": torch.zeros(WIDTH)})
    state.update({"encoder_pred.weight": torch.randn(DEC_WIDTH, WIDTH), "encoder_pred.bias": torch.zeros(DEC_WIDTH)})
    for i in range(DEC_DEPTH):
        state.update(_block(f"decoder_blocks.{i}.", DEC_WIDTH, 4, gen))
    state.update({"decoder_norm.weight": torch.ones(DEC_WIDTH), "decoder_norm.bias": torch.zeros(DEC_WIDTH)})
    state.update({"decoder_pred.weight": torch.randn(256 * 4, DEC_WIDTH), "decoder_pred.bias": torch.zeros(1024)})
    for n, k in enumerate((5, 9, 13, 17), start=1):
        for name in ("weight_x1", "weight_x2", "weight_y1", "weight_y2"):
            state[f"sarfeature{n}.{name}"] = torch.ones(1, 1, 2 * k + 1, 2 * k + 1)
    state["mask_token"] = 0.5 * torch.randn(1, 1, WIDTH, generator=gen)
    return {"module." + k: v for k, v in state.items()}


def _checkpoint(seed: int = 0) -> dict:
    args = argparse.Namespace(model="mae_vit_base_patch16", input_size=IMAGE, mask_ratio=0.8, window_size=7)
    return {"model": _layout(seed), "optimizer": {"state": {}, "param_groups": []}, "epoch": 399, "scaler": {},
            "args": args}  # fmt: skip


# -- the reference forward pass (iRPE, skip = 1), from the layout -------------------------------------------


def _piecewise(rp: torch.Tensor) -> torch.Tensor:
    rp = rp.float()
    out = rp.round().long()
    far = rp.abs() > ALPHA
    compressed = ALPHA + torch.log(rp.abs()[far] / ALPHA) / math.log(GAMMA / ALPHA) * (BETA - ALPHA)
    out[far] = (torch.sign(rp[far]) * compressed.round().clip(max=BETA)).long()
    return out


def _bucket_ids(length: int) -> torch.Tensor:
    side = int(math.sqrt(length))  # iRPE: height = width = ⌊√L⌋, skip = L − side²
    rows = torch.arange(side).view(side, 1).repeat(1, side).flatten()
    cols = torch.arange(side).view(1, side).repeat(side, 1).flatten()
    beta_int = int(BETA)
    r = _piecewise(rows[:, None] - rows[None, :]) + beta_int
    c = _piecewise(cols[:, None] - cols[None, :]) + beta_int
    ids = r * (2 * beta_int + 1) + c
    skip = length - side * side
    full = torch.full((length, length), (2 * beta_int + 1) ** 2)
    full[skip:, skip:] = ids
    return full


def _reference(state: dict, images: torch.Tensor) -> torch.Tensor:
    s = {k.removeprefix("module."): v for k, v in state.items()}
    x = F.conv2d(images, s["patch_embed.proj.weight"], s["patch_embed.proj.bias"], stride=PATCH)
    x = torch.cat([s["cls_token"].expand(len(x), -1, -1), x.flatten(2).transpose(1, 2)], dim=1)
    b, n, c = x.shape
    ids = _bucket_ids(n)
    for i in range(DEPTH):
        p = f"blocks.{i}."
        h = F.layer_norm(x, (c,), s[p + "norm1.weight"], s[p + "norm1.bias"], eps=1e-6)
        q, k, v = (
            (h @ s[p + "attn.qkv.weight"].T + s[p + "attn.qkv.bias"]).reshape(b, n, 3, HEADS, -1).permute(2, 0, 3, 1, 4)
        )
        attn = (q @ k.transpose(-2, -1)) * (c // HEADS) ** -0.5
        table = q @ s[p + "attn.rpe_k.lookup_table_weight"][0]  # (b, h, n, buckets): q · W, q unscaled
        attn = attn + table.gather(-1, ids.expand(b, HEADS, n, n))
        out = (attn.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
        x = x + out @ s[p + "attn.proj.weight"].T + s[p + "attn.proj.bias"]
        h = F.layer_norm(x, (c,), s[p + "norm2.weight"], s[p + "norm2.bias"], eps=1e-6)
        x = x + F.gelu(h @ s[p + "mlp.fc1.weight"].T + s[p + "mlp.fc1.bias"]) @ s[p + "mlp.fc2.weight"].T
        x = x + s[p + "mlp.fc2.bias"]
    return F.layer_norm(x, (c,), s["norm.weight"], s["norm.bias"], eps=1e-6)


def test_checkpoint_matches_reference_irpe_forward(tmp_path):
    checkpoint = _checkpoint()
    path = tmp_path / "SAR-JEPA.pth"
    torch.save(checkpoint, path)
    out = tmp_path / "converted"
    main(["from-original", str(path), str(out), "--num-attention-heads", str(HEADS)])
    card = (out / "README.md").read_text()
    assert "waterdisappear/SAR-JEPA" in card and "2311.15153" in card and "licence" in card
    model = AutoModel.from_pretrained(out).eval()
    assert isinstance(model, SarJepaModel)
    c = model.config
    assert (c.hidden_size, c.num_hidden_layers, c.image_size, c.patch_size, c.position_encoding) == (
        WIDTH, DEPTH, IMAGE, PATCH, "relative",
    )  # fmt: skip
    images = torch.rand(3, 1, IMAGE, IMAGE)
    with torch.no_grad():
        ours = model(images).last_hidden_state
        ref = _reference(checkpoint["model"], images)
    assert ours.shape == ref.shape
    assert (ours - ref).abs().max() < 1e-5


def test_per_head_table_without_cls_bucket(tmp_path):
    """A table of H heads and no extra bucket (skip = 0 in the table) maps without the softmax shift."""
    checkpoint = _checkpoint(1)
    for key in [k for k in checkpoint["model"] if k.endswith("lookup_table_weight")]:
        table = checkpoint["model"][key]
        if table.shape[1] == WIDTH // HEADS:
            checkpoint["model"][key] = table[..., :-1].expand(HEADS, -1, -1).clone()
    torch.save(checkpoint, tmp_path / "c.pth")
    model = load_original_checkpoint(tmp_path / "c.pth", num_attention_heads=HEADS)
    head_dim = WIDTH // HEADS
    expected = checkpoint["model"]["module.blocks.0.attn.rpe_k.lookup_table_weight"] * head_dim**0.5
    assert torch.allclose(model.blocks[0].attn.relative_keys, expected)


def test_bad_inputs_are_clear_errors(tmp_path):
    checkpoint = _checkpoint()
    torch.save(checkpoint, tmp_path / "good.pth")
    data = (tmp_path / "good.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="truncated or damaged"):
        load_original_checkpoint(tmp_path / "cut.pth", num_attention_heads=HEADS)
    checkpoint["args"] = torch.nn.Identity()  # an object whose unpickling imports and runs code
    torch.save(checkpoint, tmp_path / "code.pth")
    with pytest.raises(ValueError, match="unpickling would run code"):
        load_original_checkpoint(tmp_path / "code.pth", num_attention_heads=HEADS)
    # another model: an MAE ViT without relative positions, and an I-JEPA checkpoint
    mae = {k: v for k, v in _layout().items() if "rpe_k" not in k}
    torch.save({"model": mae}, tmp_path / "mae.pth")
    with pytest.raises(ValueError, match="no iRPE key table"):
        load_original_checkpoint(tmp_path / "mae.pth", num_attention_heads=HEADS)
    torch.save({"encoder": {"module.pos_embed": torch.zeros(1)}, "predictor": {}}, tmp_path / "ijepa.pth")
    with pytest.raises(ValueError, match="expected a SAR-JEPA"):
        load_original_checkpoint(tmp_path / "ijepa.pth")
    with pytest.raises(ValueError, match="not a standard ViT width"):
        load_original_checkpoint(tmp_path / "good.pth")
    with pytest.raises(ValueError, match="relative-position-ratio"):
        load_original_checkpoint(tmp_path / "good.pth", num_attention_heads=HEADS, relative_position_ratio=1.2)
