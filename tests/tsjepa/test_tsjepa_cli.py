"""TS-JEPA the way users run it: `jepa pretrain / evaluate / score / embed` in fresh interpreters, and the run
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


# small data and a short evaluation so that each verb is mostly interpreter start-up
SMALL = [
    "num_train_trajectories=64", "num_test_trajectories=16", "actor_epochs=2", "actor_windows_per_trajectory=2",
    "control_steps=40",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tsjepa") / "run"
    settings = [arg for pair in SMALL for arg in ("--set", pair)]
    jepa("pretrain", "tsjepa", "--preset", "tiny", "--max-steps", "5", "--batch-size", "16", "--threads", "1",
         "--output-dir", str(folder), *settings)  # fmt: skip
    return folder


def test_pretrain_saves_the_fitted_processor(run):
    saved = json.loads((run / "preprocessor_config.json").read_text())
    assert saved["feature_extractor_type"] == "TimeSeriesJepaProcessor"
    assert len(saved["channel_mean"]) == 4 and len(saved["command_std"]) == 1 and saved["window_size"] == 16
    assert saved["command_std"][0] > 1.0  # commands in newtons, fitted on the train split (not the 0/1 default)


def test_evaluate_leads_with_the_pole_length_probe(run):
    result = last_json(jepa("evaluate", str(run)).stdout)
    assert result["headline_metric"] == "linear_probe_accuracy"
    assert next(iter(result)) == "headline_metric" and list(result)[1] == "linear_probe_accuracy"
    assert 0.0 <= result["linear_probe_accuracy"] <= 1.0
    for name in ("command_nmae_received", "command_nmae_horizon", "tsjepa_upright", "tsjepa_within_tolerance"):
        assert math.isfinite(result[name]), name
    assert result["tsjepa_bits_per_step"] <= 1152  # the default capacity: a quarter of 16 devices' embeddings
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["evaluation"]["headline"] == "linear_probe_accuracy"


def test_score_and_embed(run):
    scores = last_json(jepa("score", str(run), "--num-samples", "2").stdout)
    assert len(scores["jepa_score"]) == 2 and all(math.isfinite(s) for s in scores["jepa_score"])
    output = run / "e.parquet"
    jepa("embed", str(run), "--output", str(output))
    table = pd.read_parquet(output)
    assert len(table) == 64 + 16  # one row per trajectory of the train and test splits
    assert table["id"].iloc[0] == "train-0" and table["id"].iloc[-1] == "test-15"
    embeddings = np.stack(table["embedding"].to_numpy())
    assert embeddings.shape == (80, 32) and np.isfinite(embeddings).all()
    assert set(table["label"]) == {0, 1, 2, 3}


def test_reload_gives_the_same_embeddings_in_a_fresh_interpreter(run):
    """AutoProcessor + AutoModel from the run folder: raw test trajectories → the rows `jepa embed` wrote; the
    model card's snippet runs as printed."""
    if not (run / "e.parquet").is_file():
        jepa("embed", str(run), "--output", str(run / "e.parquet"))
    from tsjepa.domain import EXAMPLE_INPUT

    code = (
        textwrap.dedent(
            """
        import sys
        import numpy as np, pandas as pd, torch
        import tsjepa
        from transformers import AutoFeatureExtractor, AutoModel, AutoProcessor
        from tsjepa.data import simulated_observations

        run = sys.argv[1]
        processor = AutoProcessor.from_pretrained(run)
        assert type(processor).__name__ == "TimeSeriesJepaProcessor", type(processor)
        assert type(AutoFeatureExtractor.from_pretrained(run)).__name__ == "TimeSeriesJepaProcessor"
        model = AutoModel.from_pretrained(run).eval()
        raw = simulated_observations("test", model.config)[:3]  # raw sensor readings (3, 4, 100)
        inputs = processor(raw, return_tensors="pt")
        assert set(inputs) == {"series"}
        with torch.no_grad():
            got = model(**inputs).pooler_output.numpy()
        table = pd.read_parquet(run + "/e.parquet").set_index("id")
        expected = np.stack(table.loc[["test-0", "test-1", "test-2"], "embedding"].to_numpy())
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        """
        )
        + EXAMPLE_INPUT
        + "\nprint(tuple(model(**inputs).last_hidden_state.shape))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("(1, 1, 32)")


def gait_table(lengths=(150, 60, 120, 90, 130, 70), seed=0) -> pd.DataFrame:
    """3 sensors with real names, a time column in seconds (50 Hz), per-row labels, episodes of other lengths."""
    rng = np.random.default_rng(seed)
    frames = []
    for episode, length in enumerate(lengths):
        t = np.arange(length) / 50.0
        label = ["walk", "run"][episode % 2]
        frames.append(pd.DataFrame({
            "subject": f"s{episode}", "t_s": t, "label": label,
            "hip_deg": 20 * np.sin(2 * np.pi * (1 + episode % 2) * t) + rng.normal(size=length),
            "knee_deg": 40 + 10 * np.cos(2 * np.pi * t) + rng.normal(size=length),
            "ankle_deg": rng.normal(size=length) * 3,
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=0)  # rows in any order


def test_real_column_names_end_to_end(tmp_path):
    """A 3-channel gait series as CSV (pretrain) and Parquet (evaluate / embed / score): the model is sized by
    the columns, the saved processor holds the train rows' statistics, every window of the long episodes is
    embedded, and the run's processor reproduces the embeddings after a reload."""
    table = gait_table()
    table.to_csv(tmp_path / "gait.csv", index=False)
    table.to_parquet(tmp_path / "gait.parquet")
    run = tmp_path / "run"
    sets = ["time_column=t_s", "episode_column=subject", "test_fraction=0.34", "actor_epochs=2"]
    jepa("pretrain", "tsjepa", "--preset", "tiny", "--data", str(tmp_path / "gait.csv"), "--max-steps", "4",
         "--batch-size", "8", "--threads", "1", "--output-dir", str(run),
         *[arg for pair in sets for arg in ("--set", pair)])  # fmt: skip
    config = json.loads((run / "config.json").read_text())
    assert config["num_channels"] == 3 and config["channel_columns"] == ["hip_deg", "knee_deg", "ankle_deg"]
    assert config["sampling_interval"] == pytest.approx(0.02)
    saved = json.loads((run / "preprocessor_config.json").read_text())
    train_rows = table[table.subject.isin(["s0", "s1", "s2", "s3"])]
    np.testing.assert_allclose(saved["channel_mean"], train_rows[config["channel_columns"]].mean(), rtol=1e-5)
    np.testing.assert_allclose(saved["channel_std"], train_rows[config["channel_columns"]].std(ddof=0), rtol=1e-4)
    assert saved["channel_names"] == config["channel_columns"]
    result = last_json(jepa("evaluate", str(run), "--data", str(tmp_path / "gait.parquet")).stdout)
    assert 0.0 <= result["linear_probe_accuracy"] <= 1.0 and not any("nmae" in k for k in result)  # no commands
    output = tmp_path / "e.parquet"
    jepa("embed", str(run), "--data", str(tmp_path / "gait.parquet"), "--output", str(output))
    embedded = pd.read_parquet(output)
    per_episode = embedded["id"].str.split("@").str[0].value_counts()
    assert per_episode["s0"] == 10 and per_episode["s1"] == 4  # ceil(150 / 16), ceil(60 / 16): nothing truncated
    labels = embedded.groupby(embedded["id"].str.split("@").str[0])["label"].unique()
    assert list(labels["s1"]) == [0] and list(labels["s0"]) == [1]  # per-row names, sorted: run = 0, walk = 1
    scores = last_json(jepa("score", str(run), "--data", str(tmp_path / "gait.parquet"), "--num-samples", "2").stdout)
    assert all(math.isfinite(s) for s in scores["jepa_score"])
    code = textwrap.dedent(
        """
        import sys
        import numpy as np, pandas as pd, torch
        import tsjepa
        from transformers import AutoModel, AutoProcessor

        run, data, output = sys.argv[1:]
        processor, model = AutoProcessor.from_pretrained(run), AutoModel.from_pretrained(run).eval()
        rows = pd.read_parquet(data)
        rows = rows[rows.subject == "s0"].sort_values("t_s")[processor.channel_names].to_numpy().T
        with torch.no_grad():
            got = model(**processor(rows[:, 96:112])).pooler_output.numpy()[0]
        table = pd.read_parquet(output).set_index("id")
        np.testing.assert_allclose(got, table.loc["s0@111", "embedding"], rtol=1e-5, atol=1e-6)
        """
    )
    reload = subprocess.run([sys.executable, "-c", code, str(run), str(tmp_path / "gait.parquet"), str(output)],
                            capture_output=True, text=True, env=ENV)  # fmt: skip
    assert reload.returncode == 0, reload.stderr[-3000:]


def test_the_pre_check_lists_every_bad_file(tmp_path):
    """A folder of episodes: a corrupt .npz, a too-short episode and one whose rows disagree on the label are
    listed together (not a traceback); `on_bad_file=skip` leaves them out."""
    good = gait_table(lengths=(80, 80, 80))
    good.to_csv(tmp_path / "a.csv", index=False)
    short = gait_table(lengths=(20,), seed=1)
    short.to_csv(tmp_path / "b.csv", index=False)
    mixed = gait_table(lengths=(80,), seed=2)
    mixed.loc[mixed.index[:5], "label"] = "run"
    mixed.to_csv(tmp_path / "c.csv", index=False)
    np.savez(tmp_path / "d.npz", series=np.zeros((2, 3, 80)))
    (tmp_path / "d.npz").write_bytes((tmp_path / "d.npz").read_bytes()[:64])
    (tmp_path / "d.npz").rename(tmp_path / "d.csv.npz")
    failed = jepa("pretrain", "tsjepa", "--data", str(tmp_path), "--set", "time_column=t_s", "--set",
                  "episode_column=subject", "--output-dir", str(tmp_path / "r"), check=False)  # fmt: skip
    assert failed.returncode == 2 and "Traceback" not in failed.stderr, failed.stderr
    for expected in ("d.csv.npz: unreadable", "b.csv [episode b/s0]: too short: 20 steps",
                     "c.csv [episode c/s0]: its rows disagree on the label", "--set on_bad_file=skip"):  # fmt: skip
        assert expected in failed.stderr, failed.stderr
