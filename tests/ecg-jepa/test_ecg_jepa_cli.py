"""ECG-JEPA the way users run it: `jepa pretrain / evaluate / score / embed` in fresh interpreters, and the run
folder opened again with AutoProcessor + AutoModel."""

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from jepa_cli import ENV, last_json
from jepa_cli import jepa_ok as jepa

pytestmark = pytest.mark.slow  # fresh interpreters, as users run the command


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ecg") / "run"
    jepa("pretrain", "ecg-jepa", "--preset", "tiny", "--max-steps", "5", "--batch-size", "8", "--threads", "1",
         "--output-dir", str(folder))  # fmt: skip
    return folder


def test_pretrain_saves_the_fitted_processor(run):
    saved = json.loads((run / "preprocessor_config.json").read_text())
    assert saved["feature_extractor_type"] == "EcgJepaProcessor"
    assert saved["sampling_rate"] == 500 and len(saved["lead_names"]) == 12
    assert len(saved["lead_mean"]) == 12 and all(s > 0 for s in saved["lead_std"])


def test_evaluate_leads_with_the_probe_macro_auc(run):
    result = last_json(jepa("evaluate", str(run)).stdout)
    assert result["headline_metric"] == "probe_macro_auc" and list(result)[1] == "probe_macro_auc"
    assert 0.0 <= result["probe_macro_auc"] <= 1.0 and math.isfinite(result["probe_auc_atrial_fibrillation"])
    assert 0.0 <= result["linear_probe_macro_auc"] <= 1.0  # the core's probe on the crop-averaged records
    assert json.loads((run / "metrics.json").read_text())["evaluation"]["headline"] == "probe_macro_auc"


def test_score_and_embed(run):
    scores = last_json(jepa("score", str(run), "--num-samples", "2").stdout)
    assert len(scores["jepa_score"]) == 2 and all(math.isfinite(s) for s in scores["jepa_score"])
    output = run / "e.parquet"
    jepa("embed", str(run), "--output", str(output))
    table = pd.read_parquet(output)
    assert len(table) == 256 + 512  # one row per record of the train and test splits
    assert table["id"].iloc[0] == "train-0000" and table["id"].iloc[-1] == "test-0511"
    embeddings = np.stack(table["embedding"].to_numpy())
    assert embeddings.shape == (768, 64) and np.isfinite(embeddings).all()
    labels = np.stack(table["label"].to_numpy())
    assert labels.shape == (768, 5) and set(np.unique(labels)) == {0.0, 1.0}


def test_reload_gives_the_same_embeddings_in_a_fresh_interpreter(run):
    """AutoProcessor + AutoModel from the run folder: a raw 10-s test record → the row `jepa embed` wrote; the
    model card's snippet runs as printed."""
    if not (run / "e.parquet").is_file():
        jepa("embed", str(run), "--output", str(run / "e.parquet"))
    from ecg_jepa.domain import EXAMPLE_INPUT

    code = (
        textwrap.dedent(
            """
        import sys
        import numpy as np, pandas as pd, torch
        import ecg_jepa
        from transformers import AutoFeatureExtractor, AutoModel, AutoProcessor
        from ecg_jepa.data import simulated_ecg
        from ecg_jepa.evaluation import strided_crops

        run = sys.argv[1]
        processor = AutoProcessor.from_pretrained(run)
        assert type(processor).__name__ == "EcgJepaProcessor", type(processor)
        assert type(AutoFeatureExtractor.from_pretrained(run)).__name__ == "EcgJepaProcessor"
        model = AutoModel.from_pretrained(run).eval()
        raw = simulated_ecg(2, 10.0, seed=1)[0]  # the first two raw test records, (2, 12, 5000) in mV at 500 Hz
        inputs = processor(raw, sampling_rate=500, lead_names=list(ecg_jepa.STANDARD_LEADS), return_tensors="pt")
        assert set(inputs) == {"input_values"} and inputs["input_values"].shape == (2, 12, 5000)
        with torch.no_grad():
            got = [model(input_values=strided_crops(r, 1250, 625)).last_hidden_state[:, 1:].mean((0, 1)).numpy()
                   for r in inputs["input_values"]]
        table = pd.read_parquet(run + "/e.parquet").set_index("id")
        expected = np.stack(table.loc[["test-0000", "test-0001"], "embedding"].to_numpy())
        np.testing.assert_allclose(np.stack(got), expected, rtol=1e-4, atol=1e-5)
        """
        )
        + EXAMPLE_INPUT
        + "\nprint(tuple(model(**inputs).last_hidden_state.shape))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("(1, 41, 64)")  # register token + 40 patches of a 2-s record


def test_config_field_errors_name_the_set_flag(tmp_path, capsys):
    """In-process (`jepa_core.cli.main`, the same code path as the command) to spare two interpreter start-ups."""
    from jepa_core.cli import main

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "short.npz", signals=rng.normal(size=(6, 12, 1000)), sampling_rate=500)  # 2-s records
    base = ["pretrain", "ecg-jepa", "--data", str(tmp_path / "short.npz"), "--output-dir", str(tmp_path / "r")]
    assert main(base) == 2
    assert "--set signal_length=1000" in capsys.readouterr().err
    assert main([*base, "--set", "signal_length=1000"]) == 2  # the 2.5-s evaluation crops no longer fit
    assert "--set eval_crop_length=1000" in capsys.readouterr().err
