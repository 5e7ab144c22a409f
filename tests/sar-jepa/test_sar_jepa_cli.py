"""The `jepa` command as users run it, in fresh interpreters: pretrain → evaluate / score / embed, reload."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # fresh interpreters, as users run the command

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def jepa(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "jepa_core", *args], env=ENV, capture_output=True, text=True, timeout=600
    )
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def json_of(text: str) -> dict:
    return json.loads(text[text.index("{") :])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sar") / "run"
    # 2 fine-tuning epochs instead of the paper's 40 keep `evaluate` short; the field travels in config.json
    jepa("pretrain", "sar-jepa", "--preset", "tiny", "--max-steps", "5", "--batch-size", "8", "--set",
         "finetune_epochs=2", "--output-dir", str(folder), "--threads", "1")  # fmt: skip
    saved = json.loads((folder / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == "SarJepaProcessor" and saved["clip_value"] > 0
    return folder


def test_evaluate_reports_the_few_shot_headline(run):
    result = json_of(jepa("evaluate", str(run)).stdout)
    assert result["headline_metric"] == "finetune_40_shot_accuracy"
    for key in ("finetune_40_shot_accuracy", "finetune_10_shot_accuracy", "linear_probe_accuracy", "knn_accuracy",
                "probe_10_shot_accuracy"):  # fmt: skip
        assert 0 <= result[key] <= 1, key


def test_score_and_embed(run):
    scores = json_of(jepa("score", str(run), "--num-samples", "2").stdout)["jepa_score"]
    assert len(scores) == 2 and np.isfinite(scores).all()
    jepa("embed", str(run), "--output", str(run / "e.parquet"))
    table = pd.read_parquet(run / "e.parquet")
    assert len(table) == 1024 and table["id"].iloc[0] == "train-truck-r00c00"  # every embedded chip, once
    embeddings = np.stack(table["embedding"].to_numpy())
    assert embeddings.shape == (1024, 64) and np.isfinite(embeddings).all()
    assert set(table["label"]) == {0, 1, 2, 3}


def test_processor_and_encoder_reload_in_a_fresh_interpreter(run):
    code = f"""
import numpy as np, torch, sar_jepa
from transformers import AutoImageProcessor, AutoModel, AutoProcessor
from sar_jepa import data
processor = AutoProcessor.from_pretrained({str(run)!r})
assert type(processor) is sar_jepa.SarJepaProcessor
assert type(AutoImageProcessor.from_pretrained({str(run)!r})) is sar_jepa.SarJepaProcessor
encoder = AutoModel.from_pretrained({str(run)!r}).eval()
fitted = data.default_processor(encoder.config)
assert processor.clip_value == fitted.clip_value and processor.input_kind == "intensity"
chip = np.random.default_rng(0).gamma(4.0, 0.25, size=(32, 32))
with torch.no_grad():
    ours = encoder(**processor(chip, return_tensors="pt")).last_hidden_state
    theirs = encoder(**fitted(chip, return_tensors="pt")).last_hidden_state
torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]


def test_a_config_field_error_names_the_set_flag(tmp_path):
    done = jepa("pretrain", "sar-jepa", "--preset", "tiny", "--set", "num_channels=2", "--max-steps", "1",
                "--output-dir", str(tmp_path / "r"), "--threads", "1", check=False)  # fmt: skip
    assert done.returncode == 2 and "--set num_channels=1" in done.stderr, done.stderr[-2000:]
