"""Brain-JEPA converter: random weights in the authors' exact checkpoint layout (Eric-LRL/Brain-JEPA
`src/models/vision_transformer.py`, DDP `module.` names), converted, against the reference forward pass written
here from that layout."""

import collections

import numpy as np
import pytest
import torch
from brain_jepa import BrainJepaForPreTraining, BrainJepaModel
from brain_jepa.convert_brain_jepa import convert, load_original_checkpoint, main
from torch.nn import functional as F
from transformers import AutoModel

WIDTH, DEPTH, HEADS, PRED_WIDTH, PRED_DEPTH = 48, 2, 4, 24, 2
ROIS, COMPONENTS, PATCH, TIME_PATCHES = 12, 5, 16, 10  # the reference hard-codes 10 time patches (160 frames)


def _sincos(dim: int, positions: np.ndarray) -> np.ndarray:
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=float) / (dim / 2.0))
    out = np.einsum("m,d->md", positions.reshape(-1).astype(float), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def _time_table(dim: int) -> torch.Tensor:
    """The reference's `emb_h`: meshgrid(w, h)[0] = the time index of each ROI-major token."""
    grid = np.meshgrid(np.arange(TIME_PATCHES, dtype=float), np.arange(ROIS, dtype=float))
    return torch.from_numpy(_sincos(dim // 2, grid[0])).float()


def _blocks(prefix: str, width: int, depth: int, gen: torch.Generator) -> dict:
    state = {}
    for i in range(depth):
        p = f"{prefix}{i}."
        shapes = {
            "norm1.weight": (width,), "norm1.bias": (width,), "attn.qkv.weight": (3 * width, width),
            "attn.qkv.bias": (3 * width,), "attn.proj.weight": (width, width), "attn.proj.bias": (width,),
            "norm2.weight": (width,), "norm2.bias": (width,), "mlp.fc1.weight": (4 * width, width),
            "mlp.fc1.bias": (4 * width,), "mlp.fc2.weight": (width, 4 * width), "mlp.fc2.bias": (width,),
        }  # fmt: skip
        for name, shape in shapes.items():
            base = 1.0 if name.startswith("norm") and name.endswith("weight") else 0.0
            state[p + name] = base + 0.1 * torch.randn(shape, generator=gen)
    return state


def _encoder_layout(gen: torch.Generator) -> dict:
    state = {
        "patch_embed.proj.weight": 0.2 * torch.randn(WIDTH, 1, 1, PATCH, generator=gen),
        "patch_embed.proj.bias": 0.1 * torch.randn(WIDTH, generator=gen),
        "pos_embed_proj.emb_h": _time_table(WIDTH),
        "pos_embed_proj.predictor_pos_embed_proj.weight": 0.3 * torch.randn(WIDTH // 2, COMPONENTS, generator=gen),
        "pos_embed_proj.predictor_pos_embed_proj.bias": 0.1 * torch.randn(WIDTH // 2, generator=gen),
        **_blocks("blocks.", WIDTH, DEPTH, gen),
        "norm.weight": 1 + 0.1 * torch.randn(WIDTH, generator=gen),
        "norm.bias": 0.1 * torch.randn(WIDTH, generator=gen),
    }
    return collections.OrderedDict(("module." + k, v) for k, v in state.items())


def _predictor_layout(gen: torch.Generator) -> dict:
    state = {
        "predictor_embed.weight": 0.1 * torch.randn(PRED_WIDTH, WIDTH, generator=gen),
        "predictor_embed.bias": 0.1 * torch.randn(PRED_WIDTH, generator=gen),
        "mask_token": 0.1 * torch.randn(1, 1, PRED_WIDTH, generator=gen),
        "predictor_2dpe_proj.emb_h": _time_table(PRED_WIDTH),
        "predictor_2dpe_proj.predictor_pos_embed_proj.weight": 0.3 * torch.randn(PRED_WIDTH // 2, COMPONENTS,
                                                                                 generator=gen),
        "predictor_2dpe_proj.predictor_pos_embed_proj.bias": 0.1 * torch.randn(PRED_WIDTH // 2, generator=gen),
        **_blocks("predictor_blocks.", PRED_WIDTH, PRED_DEPTH, gen),
        "predictor_norm.weight": 1 + 0.1 * torch.randn(PRED_WIDTH, generator=gen),
        "predictor_norm.bias": 0.1 * torch.randn(PRED_WIDTH, generator=gen),
        "predictor_proj.weight": 0.1 * torch.randn(WIDTH, PRED_WIDTH, generator=gen),
        "predictor_proj.bias": 0.1 * torch.randn(WIDTH, generator=gen),
    }  # fmt: skip
    return collections.OrderedDict(("module." + k, v) for k, v in state.items())


def _checkpoint(seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {
        "encoder": _encoder_layout(gen), "predictor": _predictor_layout(gen), "target_encoder": _encoder_layout(gen),
        "opt": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]}, "scaler": None, "epoch": 300,
        "loss": 0.1, "batch_size": 16, "world_size": 4, "lr": 1e-3,
    }  # fmt: skip


class Recipe:
    """A training script's own class: unpickling it would import and run its code."""


# -- the reference forward pass, from the layout -------------------------------------------------------------


def _ref_block(x: torch.Tensor, s: dict, p: str, heads: int) -> torch.Tensor:
    b, n, c = x.shape
    h = F.layer_norm(x, (c,), s[p + "norm1.weight"], s[p + "norm1.bias"], eps=1e-6)
    qkv = (h @ s[p + "attn.qkv.weight"].T + s[p + "attn.qkv.bias"]).reshape(b, n, 3, heads, c // heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    attn = ((q @ k.transpose(-2, -1)) * (c // heads) ** -0.5).softmax(-1)
    x = x + (attn @ v).transpose(1, 2).reshape(b, n, c) @ s[p + "attn.proj.weight"].T + s[p + "attn.proj.bias"]
    h = F.layer_norm(x, (c,), s[p + "norm2.weight"], s[p + "norm2.bias"], eps=1e-6)
    h = F.gelu(h @ s[p + "mlp.fc1.weight"].T + s[p + "mlp.fc1.bias"])
    return x + h @ s[p + "mlp.fc2.weight"].T + s[p + "mlp.fc2.bias"]


def _ref_positions(s: dict, prefix: str, gradients: torch.Tensor) -> torch.Tensor:
    """GradTs_2dPE(add_w='mapping'): [emb_h ‖ min-max([-1, 1]) of proj(gradient).repeat_interleave(10)]."""
    emb_w = gradients @ s[prefix + "predictor_pos_embed_proj.weight"].T + s[prefix + "predictor_pos_embed_proj.bias"]
    emb_w = emb_w.repeat_interleave(TIME_PATCHES, dim=0)
    emb_w = (emb_w - emb_w.min()) / (emb_w.max() - emb_w.min()) * 2 - 1
    return torch.cat([s[prefix + "emb_h"], emb_w], dim=1)[None]


def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[-1]))


def _ref_encoder(state: dict, x: torch.Tensor, gradients: torch.Tensor, mask=None) -> torch.Tensor:
    s = {k.removeprefix("module."): v for k, v in state.items()}
    tokens = F.conv2d(x, s["patch_embed.proj.weight"], s["patch_embed.proj.bias"], stride=(1, PATCH))
    tokens = tokens.flatten(2).transpose(1, 2) + _ref_positions(s, "pos_embed_proj.", gradients)
    if mask is not None:
        tokens = _gather(tokens, mask)
    for i in range(DEPTH):
        tokens = _ref_block(tokens, s, f"blocks.{i}.", HEADS)
    return F.layer_norm(tokens, (WIDTH,), s["norm.weight"], s["norm.bias"], eps=1e-6)


def _ref_predictor(state: dict, z: torch.Tensor, masks_x, masks, gradients: torch.Tensor) -> torch.Tensor:
    s = {k.removeprefix("module."): v for k, v in state.items()}
    batch = len(z)
    x = z @ s["predictor_embed.weight"].T + s["predictor_embed.bias"]
    pos = _ref_positions(s, "predictor_2dpe_proj.", gradients).repeat(batch, 1, 1)
    x = x + _gather(pos, masks_x)
    n_ctx = x.shape[1]
    pred = s["mask_token"].repeat(batch, masks.shape[1], 1) + _gather(pos, masks)
    x = torch.cat([x, pred], dim=1)
    for i in range(PRED_DEPTH):
        x = _ref_block(x, s, f"predictor_blocks.{i}.", HEADS)
    x = F.layer_norm(x, (PRED_WIDTH,), s["predictor_norm.weight"], s["predictor_norm.bias"], eps=1e-6)
    return x[:, n_ctx:] @ s["predictor_proj.weight"].T + s["predictor_proj.bias"]


@pytest.fixture
def source(tmp_path):
    checkpoint = _checkpoint()
    path = tmp_path / "jepa-ep300.pth.tar"
    torch.save(checkpoint, path)
    gradients = np.random.default_rng(0).normal(size=(ROIS, COMPONENTS))
    csv = tmp_path / "gradient_mapping.csv"
    np.savetxt(csv, gradients, delimiter=",")
    return path, csv, checkpoint, torch.from_numpy(np.loadtxt(csv, delimiter=",")).float()


def test_converted_folder_matches_reference_forward(source, tmp_path):
    path, csv, checkpoint, gradients = source
    out = tmp_path / "converted"
    main(["from-original", str(path), str(out), "--gradients", str(csv), "--num-attention-heads", str(HEADS)])
    assert {"config.json", "model.safetensors", "README.md", "pretraining"} <= {p.name for p in out.iterdir()}
    card = (out / "README.md").read_text()
    assert "Eric-LRL/Brain-JEPA" in card and "2409.19407" in card and "licence" in card
    model = AutoModel.from_pretrained(out).eval()
    assert isinstance(model, BrainJepaModel)
    c = model.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_rois, c.num_frames, c.gradient_components) == (
        WIDTH, DEPTH, ROIS, TIME_PATCHES * PATCH, COMPONENTS,
    )  # fmt: skip
    assert torch.equal(model.brain_gradients, gradients)
    series = torch.randn(3, ROIS, TIME_PATCHES * PATCH)
    with torch.no_grad():
        ours = model(series).last_hidden_state
        ref = _ref_encoder(checkpoint["target_encoder"], series[:, None], gradients)
        assert (ours - ref).abs().max() < 1e-5
        # a context view (kept token indices) and the context encoder
        keep = torch.stack([torch.randperm(ROIS * TIME_PATCHES)[:40].sort().values for _ in range(3)])
        full = BrainJepaForPreTraining.from_pretrained(out / "pretraining").eval()
        context = full.context_encoder(series, indices=keep).last_hidden_state
        assert (context - _ref_encoder(checkpoint["encoder"], series[:, None], gradients, keep)).abs().max() < 1e-5
        # the predictor with its own gradient positions
        target = torch.stack([torch.randperm(ROIS * TIME_PATCHES)[:20] for _ in range(3)])
        positions = full.gradient_positions(TIME_PATCHES)
        predicted = full.predictor(context, keep, target, positions)
        expected = _ref_predictor(checkpoint["predictor"], context, keep, target, gradients)
        assert (predicted - expected).abs().max() < 1e-5


def test_context_encoder_choice(source, tmp_path):
    path, csv, checkpoint, gradients = source
    model, _ = load_original_checkpoint(path, csv, encoder="context", num_attention_heads=HEADS)
    series = torch.randn(2, ROIS, TIME_PATCHES * PATCH)
    with torch.no_grad():
        diff = model(series).last_hidden_state - _ref_encoder(checkpoint["encoder"], series[:, None], gradients)
    assert diff.abs().max() < 1e-5


def test_encoder_only_checkpoint(tmp_path, source):
    _, csv, checkpoint, gradients = source
    path = tmp_path / "target_only.pth"
    torch.save({"target_encoder": checkpoint["target_encoder"]}, path)
    out = convert(path, tmp_path / "enc", csv, num_attention_heads=HEADS)
    assert not (out / "pretraining").exists()
    model = AutoModel.from_pretrained(out).eval()
    series = torch.randn(1, ROIS, TIME_PATCHES * PATCH)
    with torch.no_grad():
        diff = model(series).last_hidden_state - _ref_encoder(checkpoint["target_encoder"], series[:, None], gradients)
    assert diff.abs().max() < 1e-5


def test_bad_inputs_are_clear_errors(tmp_path, source):
    path, csv, checkpoint, _ = source
    # truncated
    truncated = tmp_path / "truncated.pth.tar"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or damaged"):
        load_original_checkpoint(truncated, csv, num_attention_heads=HEADS)
    # not a checkpoint at all
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        load_original_checkpoint(text, csv, num_attention_heads=HEADS)
    # a checkpoint of another model (an I-JEPA encoder with a learned position table)
    other = {k: v for k, v in checkpoint["target_encoder"].items() if "pos_embed_proj" not in k}
    other["module.pos_embed"] = torch.zeros(1, 16, WIDTH)
    torch.save({"encoder": other, "target_encoder": other, "predictor": checkpoint["predictor"]}, tmp_path / "o.pth")
    with pytest.raises(ValueError, match="not a Brain-JEPA encoder.*plain ViT"):
        load_original_checkpoint(tmp_path / "o.pth", csv, num_attention_heads=HEADS)
    torch.save({"model": {"w": torch.zeros(1)}}, tmp_path / "m.pth")
    with pytest.raises(ValueError, match="expected a Brain-JEPA pretraining checkpoint"):
        load_original_checkpoint(tmp_path / "m.pth", csv, num_attention_heads=HEADS)
    # a pickle that needs code
    torch.save({"target_encoder": checkpoint["target_encoder"], "args": Recipe()}, tmp_path / "p.pth")
    with pytest.raises(ValueError, match="unpickling would run code"):
        load_original_checkpoint(tmp_path / "p.pth", csv, num_attention_heads=HEADS)
    # a gradient table of another parcellation
    wrong = tmp_path / "wrong.csv"
    np.savetxt(wrong, np.zeros((7, COMPONENTS)), delimiter=",")
    with pytest.raises(ValueError, match="not a multiple of the gradient table's 7 ROIs"):
        load_original_checkpoint(path, wrong, num_attention_heads=HEADS)
