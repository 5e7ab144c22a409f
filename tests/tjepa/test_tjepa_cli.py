"""The `jepa` command as users run it, each verb in a fresh interpreter: pretrain → evaluate → score → embed on
the embedded table, the processor through AutoProcessor, and a config-field error naming its `--set` fix."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from jepa_cli import ENV, jepa

pytestmark = pytest.mark.slow  # fresh interpreters, as users run the command


def _json(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("{") :])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tjepa_cli") / "run"
    done = jepa(
        "pretrain", "tjepa", "--preset", "tiny", "--max-steps", "5", "--output-dir", str(folder), "--threads", "1"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


def test_pretrain_evaluate_score_embed(run):
    saved = json.loads((run / "preprocessor_config.json").read_text())
    assert saved["feature_extractor_type"] == "TabularJepaProcessor" and len(saved["numerical_columns"]) == 30
    assert not (run / "processor_config.json").exists()
    done = jepa("evaluate", str(run))
    assert done.returncode == 0, done.stderr[-3000:]
    result = _json(done.stdout)
    assert result["headline_metric"] == "linear_probe_accuracy"
    assert 0.8 < result["linear_probe_accuracy"] <= 1 and np.isfinite(result["knn_accuracy"])
    done = jepa("score", str(run), "--num-samples", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    scores = _json(done.stdout)["jepa_score"]
    assert len(scores) == 2 and np.isfinite(scores).all()
    done = jepa("embed", str(run), "--output", str(run / "e.parquet"))
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_parquet(run / "e.parquet")
    assert len(table) == 569 and table["id"].is_unique  # every row of breast_cancer
    embeddings = np.stack(table["embedding"])
    assert embeddings.shape == (569, (1 + 30) * 32) and np.isfinite(embeddings).all()  # flattened [REG] + features
    assert sorted(set(table["label"])) == [0, 1]


def test_fresh_interpreter_loads_the_processor_with_autoprocessor(run):
    script = (
        "import tjepa, numpy as np, torch\n"
        "from transformers import AutoModel, AutoProcessor\n"
        f"processor = AutoProcessor.from_pretrained({str(run)!r})\n"
        "assert type(processor) is tjepa.TabularJepaProcessor, type(processor)\n"
        + tjepa_example()
        + f"print(AutoModel.from_pretrained({str(run)!r})(**inputs).last_hidden_state.shape)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "torch.Size([1, 31, 32])" in done.stdout


def tjepa_example() -> str:
    from tjepa.domain import DOMAIN

    return DOMAIN.example_input


def test_config_field_error_names_the_set_option(tmp_path):
    from tjepa.data import sklearn_table

    sklearn_table("wine").to_csv(tmp_path / "wine.csv", index=False)
    done = jepa(
        "pretrain", "tjepa", "--data", str(tmp_path / "wine.csv"), "--set", "num_numerical_features=12",
        "--output-dir", str(tmp_path / "r"),
    )  # fmt: skip
    assert done.returncode == 2
    assert "--set num_numerical_features=13" in done.stderr, done.stderr[-2000:]
