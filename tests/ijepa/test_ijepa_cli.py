"""The `jepa` command as users run it, each verb in a fresh interpreter: pretrain → evaluate → score → embed on a
small image folder, the processor through AutoProcessor, and a config-field error naming its `--set` fix."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from jepa_cli import ENV, jepa
from PIL import Image

pytestmark = pytest.mark.slow  # fresh interpreters, as users run the command


def _folder(root, per_class: int = 12):
    """Two classes (bright square on the left / on the right), with train/ and test/ split folders."""
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("test", per_class // 2)):
        for label, name in enumerate(("left", "right")):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                image = rng.integers(0, 60, (36, 36, 3), dtype=np.uint8)
                image[8:28, 2 + 14 * label : 20 + 14 * label] = 255
                Image.fromarray(image).save(root / split / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ijepa_cli")
    data, folder = _folder(root / "images"), root / "run"
    done = jepa(
        "pretrain", "ijepa", "--preset", "tiny", "--data", str(data), "--max-steps", "5", "--batch-size", "8",
        "--output-dir", str(folder), "--threads", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, data


def test_pretrain_evaluate_score_embed(run):
    folder, data = run
    assert (folder / "preprocessor_config.json").is_file() and (folder / "model.safetensors").is_file()
    done = jepa("evaluate", str(folder), "--data", str(data))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout[done.stdout.index("{") :])
    assert result["headline_metric"] == "linear_probe_accuracy"
    assert 0 <= result["linear_probe_accuracy"] <= 1 and "knn_accuracy" in result
    done = jepa("score", str(folder), "--data", str(data), "--num-samples", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    scores = json.loads(done.stdout[done.stdout.index("{") :])["jepa_score"]
    assert len(scores) == 2 and np.isfinite(scores).all()
    done = jepa("embed", str(folder), "--data", str(data), "--output", str(folder / "e.parquet"))
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_parquet(folder / "e.parquet")
    assert len(table) == 36 and table["id"].is_unique  # every image of both split folders
    embeddings = np.stack(table["embedding"])
    assert embeddings.shape == (36, 96) and np.isfinite(embeddings).all()
    assert sorted(set(table["label"])) == [0, 1]


def test_fresh_interpreter_loads_the_processor_with_autoprocessor(run):
    folder, _ = run
    script = (
        "import ijepa, numpy as np, torch\n"
        "from transformers import AutoModel, AutoProcessor\n"
        f"processor = AutoProcessor.from_pretrained({str(folder)!r})\n"
        "assert type(processor) is ijepa.ImageJepaImageProcessor, type(processor)\n"
        "image = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)\n"
        "inputs = processor(image, return_tensors='pt')\n"
        f"print(AutoModel.from_pretrained({str(folder)!r})(**inputs).last_hidden_state.shape)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "torch.Size([1, 64, 96])" in done.stdout


def test_config_field_error_names_the_set_option(tmp_path):
    done = jepa("pretrain", "ijepa", "--set", "image_size=30", "--output-dir", str(tmp_path / "r"))
    assert done.returncode == 2
    assert "--set image_size=32" in done.stderr and "not divisible by patch_size 4" in done.stderr


def _mixed_folder(root):
    """Class folders of PNG / JPEG images of other sizes and modes (RGB, grayscale, RGBA), one truncated PNG
    and one text file named .jpg."""
    rng = np.random.default_rng(1)
    modes = [("RGB", (50, 30)), ("L", (41, 41)), ("RGBA", (33, 47))]
    for label, name in enumerate(("dark", "bright")):
        (root / name).mkdir(parents=True)
        for i in range(9):
            mode, size = modes[i % 3]
            channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
            pixels = rng.integers(0, 100, (size[1], size[0], channels), dtype=np.uint8) + 150 * label
            image = Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode)
            image.save(root / name / f"{i}.{'jpg' if mode == 'L' else 'png'}")
    good = (root / "dark" / "0.png").read_bytes()
    (root / "dark" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "bright" / "notes.jpg").write_text("not an image")
    return root


def test_user_images_of_other_sizes_and_modes_and_a_saved_dataset(tmp_path):
    """Real users' images: other sizes, grayscale and RGBA; the pre-check lists both bad files before training,
    `--set on_bad_file=skip` leaves them out, `--set image_size=24` sizes the model; a `save_to_disk` folder
    evaluates and embeds with the run's processor."""
    import datasets

    data, run = _mixed_folder(tmp_path / "photos"), tmp_path / "run"
    train = ("pretrain", "ijepa", "--preset", "tiny", "--data", str(data), "--max-steps", "2", "--batch-size", "4",
             "--output-dir", str(run), "--threads", "1", "--set", "image_size=24")  # fmt: skip
    done = jepa(*train)
    assert done.returncode == 2 and "2 of 20 input files cannot be used" in done.stderr, done.stderr[-3000:]
    assert "truncated.png" in done.stderr and "notes.jpg" in done.stderr and "Traceback" not in done.stderr
    assert not (run / "model.safetensors").exists()
    done = jepa(*train, "--set", "on_bad_file=skip")
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert config["image_size"] == 24 and config["on_bad_file"] == "skip"
    assert json.loads((run / "preprocessor_config.json").read_text())["image_size"] == 24

    files = sorted(p for p in data.rglob("*.*") if p.name[0].isdigit())
    saved = datasets.Dataset.from_dict(
        {"image": [Image.open(p) for p in files], "label": [int(p.parent.name == "bright") for p in files]},
        features=datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["dark", "bright"])}),
    ).train_test_split(test_size=6, seed=0)
    saved.save_to_disk(tmp_path / "saved")
    done = jepa("evaluate", str(run), "--data", str(tmp_path / "saved"))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout[done.stdout.index("{") :])
    assert result["headline_metric"] == "linear_probe_accuracy" and 0 <= result["linear_probe_accuracy"] <= 1
    done = jepa("embed", str(run), "--data", str(tmp_path / "saved"), "--output", str(tmp_path / "e.parquet"))
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_parquet(tmp_path / "e.parquet")
    assert len(table) == 18 and table["id"].is_unique and set(table["label"]) == {0, 1}
    assert np.isfinite(np.stack(table["embedding"])).all()
