"""The `jepa` command as users run it, in fresh interpreters: pretrain → evaluate / score / embed, reload."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from jepa_cli import ENV
from jepa_cli import jepa_ok as jepa

pytestmark = pytest.mark.slow  # fresh interpreters, as users run the command


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("brain") / "run"
    jepa("pretrain", "brain-jepa", "--preset", "tiny", "--max-steps", "5", "--batch-size", "8",
         "--output-dir", str(folder), "--threads", "1")  # fmt: skip
    assert (folder / "preprocessor_config.json").is_file()
    return folder


def test_evaluate_reports_a_finite_headline(run):
    out = jepa("evaluate", str(run)).stdout
    result = json.loads(out[out.index("{") :])
    assert result["headline_metric"] == "linear_probe_accuracy"
    assert np.isfinite(result["linear_probe_accuracy"]) and np.isfinite(result["trait_pearson_r"])


def test_score_and_embed(run):
    out = jepa("score", str(run), "--num-samples", "2").stdout
    scores = json.loads(out[out.index("{") :])["jepa_score"]
    assert len(scores) == 2 and np.isfinite(scores).all()
    jepa("embed", str(run), "--output", str(run / "e.parquet"))
    table = pd.read_parquet(run / "e.parquet")
    assert len(table) == 768 and table["id"].iloc[0] == "train-000"  # every subject of the embedded cohort
    embeddings = np.stack(table["embedding"].to_numpy())
    assert embeddings.shape == (768, 96) and np.isfinite(embeddings).all()
    assert set(table["label"]) == {0, 1, 2}


def test_processor_and_encoder_reload_in_a_fresh_interpreter(run):
    code = f"""
import numpy as np, torch, brain_jepa
from transformers import AutoModel, AutoProcessor
from brain_jepa.data import default_dataset
processor = AutoProcessor.from_pretrained({str(run)!r})
assert type(processor) is brain_jepa.BrainJepaProcessor, type(processor)
encoder = AutoModel.from_pretrained({str(run)!r}).eval()
test = default_dataset("test", encoder.config)  # fitted afresh on the embedded training split
raw = np.random.default_rng(0).normal(size=(31, 96)) * 3 + 1
with torch.no_grad():
    ours = encoder(**processor(raw, return_tensors="pt")).last_hidden_state
    theirs = encoder(**test.processor(raw, return_tensors="pt")).last_hidden_state
torch.testing.assert_close(ours, theirs, rtol=0, atol=0)  # the saved scaling is the fitted one
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]


def test_a_config_field_error_names_the_set_flag(tmp_path):
    done = jepa("pretrain", "brain-jepa", "--preset", "tiny", "--set", "num_rois=40", "--max-steps", "1",
                "--output-dir", str(tmp_path / "r"), "--threads", "1", check=False)  # fmt: skip
    assert done.returncode == 2 and "--set num_rois=31" in done.stderr, done.stderr[-2000:]
