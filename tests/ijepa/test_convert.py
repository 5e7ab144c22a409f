"""Interop: transformers IJepaModel folders (current and ViT-style names), the original .pth.tar, and export."""

import json
import re
import subprocess
import sys

import pytest
import torch
from ijepa import ImageJepaConfig, ImageJepaForPreTraining, ImageJepaModel
from ijepa.convert_ijepa import export_to_transformers, load_original_checkpoint, load_transformers_ijepa
from safetensors.torch import load_file, save_file
from transformers import IJepaConfig, IJepaModel

# transformers' own ViT-style key names (the layout of the published facebook/ijepa_* checkpoints)
LEGACY = [
    (r"^layers\.(\d+)\.", r"encoder.layer.\1."),
    (r"attention\.([qkv])_proj", lambda m: "attention.attention." + {"q": "query", "k": "key", "v": "value"}[m[1]]),
    (r"attention\.o_proj", "attention.output.dense"),
    (r"mlp\.fc1", "intermediate.dense"),
    (r"mlp\.fc2", "output.dense"),
]


def _hf_model(seed: int = 0) -> IJepaModel:
    torch.manual_seed(seed)
    config = IJepaConfig(
        hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96, layer_norm_eps=1e-6,
        image_size=32, patch_size=8,
    )  # fmt: skip
    model = IJepaModel(config).eval()
    with torch.no_grad():  # make every parameter non-trivial so that a wrong mapping shows
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    return model


def test_import_transformers_folder_matches_outputs(tmp_path):
    hf = _hf_model()
    hf.save_pretrained(tmp_path)
    ours = load_transformers_ijepa(tmp_path)
    assert isinstance(ours, ImageJepaModel) and ours.config.image_size == 32 and ours.config.mlp_ratio == 2.0
    pixels = torch.randn(3, 3, 32, 32)
    expected = hf(pixels).last_hidden_state
    got = ours(pixels).last_hidden_state
    assert got.shape == expected.shape == (3, 16, 48)
    assert (got - expected).abs().max() < 1e-5
    # the learned position table is imported as is into the persistent buffer
    assert torch.equal(ours.pos_embed, hf.embeddings.position_embeddings.detach())


def test_import_legacy_vit_style_names(tmp_path):
    hf = _hf_model(1)
    hf.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    legacy = {}
    for key, value in weights.items():
        for pattern, replacement in LEGACY:
            key = re.sub(pattern, replacement, key)
        legacy[key] = value
    assert "encoder.layer.0.attention.attention.query.weight" in legacy
    save_file(legacy, tmp_path / "model.safetensors")
    pixels = torch.randn(2, 3, 32, 32)
    got = load_transformers_ijepa(tmp_path)(pixels).last_hidden_state
    assert (got - hf(pixels).last_hidden_state).abs().max() < 1e-5


def test_export_loads_in_plain_transformers(tmp_path):
    """The exported folder loads in a fresh interpreter that imports transformers but not our package."""
    torch.manual_seed(0)
    model = ImageJepaForPreTraining(ImageJepaConfig.from_preset("tiny")).eval()
    encoder = model.export_encoder()
    export_to_transformers(encoder, tmp_path / "hf")
    pixels = torch.randn(2, 3, 32, 32)
    torch.save(pixels, tmp_path / "pixels.pt")
    script = (
        "import sys, torch\n"
        "from transformers import AutoModel\n"
        f"model = AutoModel.from_pretrained({str(tmp_path / 'hf')!r}).eval()\n"
        "assert type(model).__name__ == 'IJepaModel' and 'ijepa' not in sys.modules\n"
        f"pixels = torch.load({str(tmp_path / 'pixels.pt')!r}, weights_only=True)\n"
        f"torch.save(model(pixels).last_hidden_state, {str(tmp_path / 'out.pt')!r})\n"
        "import numpy as np\n"
        "from PIL import Image\n"
        "from transformers import pipeline\n"
        f"extractor = pipeline('image-feature-extraction', model={str(tmp_path / 'hf')!r})\n"
        "assert type(extractor.image_processor).__name__.startswith('BitImageProcessor')\n"
        "features = extractor(Image.fromarray(np.zeros((40, 48, 3), dtype=np.uint8)))\n"
        "assert np.array(features).shape == (1, 64, 96) and 'ijepa' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)
    exported = torch.load(tmp_path / "out.pt", weights_only=True)
    with torch.no_grad():
        assert (exported - encoder(pixels).last_hidden_state).abs().max() < 1e-5
    # and back: the round trip restores the exact weights
    back = load_transformers_ijepa(tmp_path / "hf")
    for key, value in encoder.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key


def _original_layout(model: ImageJepaForPreTraining) -> dict:
    """The facebookresearch/ijepa checkpoint layout, written out independently of the converter."""

    def encoder(module: ImageJepaModel) -> dict:
        state = {}
        for key, value in module.state_dict().items():
            key = key.replace("encoder.blocks.", "blocks.").replace("encoder.norm.", "norm.")
            state["module." + key] = value.clone()
        return state

    predictor = {}
    for key, value in model.predictor.state_dict().items():
        name = {"embed": "predictor_embed", "blocks": "predictor_blocks", "norm": "predictor_norm"}.get(
            key.split(".")[0], "predictor_proj" if key.startswith("proj") else key.split(".")[0]
        )
        predictor["module." + name + key[key.index(".") :] if "." in key else "module." + key] = value.clone()
    predictor["module.predictor_pos_embed"] = model.predictor_pos_embed[None].clone()
    return {
        "encoder": encoder(model.context_encoder), "target_encoder": encoder(model.target.encoder),
        "predictor": predictor, "epoch": 300, "lr": 1e-3,
    }  # fmt: skip


def test_import_original_checkpoint(tmp_path):
    torch.manual_seed(0)
    source = ImageJepaForPreTraining(
        ImageJepaConfig.from_preset(
            "tiny", num_attention_heads=3, hidden_size=192, pred_hidden_size=48, objective="ema"
        )
    )
    with torch.no_grad():
        for param in source.target.encoder.parameters():  # the target differs from the context encoder
            param.add_(0.01)
    path = tmp_path / "IN1K-vit.t.16-300e.pth.tar"
    torch.save(_original_layout(source), path)
    model = load_original_checkpoint(path)
    assert (model.config.hidden_size, model.config.patch_size, model.config.image_size) == (192, 4, 32)
    assert model.config.num_attention_heads == 3 and model.config.pred_num_hidden_layers == 2
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    pixels = torch.randn(2, 3, 32, 32)
    target = model.export_encoder().eval()(pixels).last_hidden_state
    assert torch.equal(target, source.target.encoder.eval()(pixels).last_hidden_state)


def test_bad_checkpoints_are_clear_errors(tmp_path):
    ours = tmp_path / "ours"
    ImageJepaModel(ImageJepaConfig.from_preset("tiny")).save_pretrained(ours)
    with pytest.raises(ValueError, match="'jepa_ijepa' checkpoint, not 'ijepa'"):
        load_transformers_ijepa(ours)
    hf = tmp_path / "hf"
    _hf_model().save_pretrained(hf)
    config = json.loads((hf / "config.json").read_text())
    (hf / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    with pytest.raises(ValueError, match="missing"):
        load_transformers_ijepa(hf)
    bad = tmp_path / "bad.pth.tar"
    torch.save({"encoder": {}}, bad)
    with pytest.raises(ValueError, match="lacks"):
        load_original_checkpoint(bad)
