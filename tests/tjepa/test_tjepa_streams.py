"""`jepa pretrain tjepa --data SHARDS` streams the rows of Parquet shards of a table of another schema in a fresh
interpreter: the processor is fitted on the first rows, the model is sized by them, and the map-style verbs read
the same shards; shards named `train-*` / `test-*` keep the test rows out of pretraining."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from jepa_cli import jepa, jepa_ok


def sensors(rows: int, seed: int) -> pd.DataFrame:
    """3 numerical columns (`pressure` with holes), a `site` categorical, a `batch` id and a 3-class `grade`."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"batch": [f"b{seed}-{i}" for i in range(rows)], "load": rng.gamma(2.0, size=rows)})
    frame["temperature"], frame["site"] = rng.normal(20, 5, rows), rng.choice(["north", "south"], rows)
    frame["pressure"] = np.where(rng.random(rows) < 0.1, np.nan, rng.normal(1.0, 0.1, rows))
    frame["grade"] = np.digitize(frame["load"] + (frame["site"] == "north"), [1.5, 3.0]).astype(str)
    return frame


@pytest.mark.slow
def test_parquet_shards_of_a_table_stream_into_a_sized_model(tmp_path):
    from tjepa import TabularJepaConfig, TabularJepaProcessor
    from tjepa.data import processor_options

    shards, run = tmp_path / "shards", tmp_path / "run"
    shards.mkdir()
    parts = [sensors(30, seed) for seed in range(3)]
    for i, part in enumerate(parts[:2]):
        part.to_parquet(shards / f"train-{i:05d}-of-00002.parquet", index=False)
    parts[2].assign(site="east").to_parquet(shards / "test-00000-of-00001.parquet", index=False)  # never trained on
    done = jepa("pretrain", "tjepa", "--data", str(shards), "--preset", "tiny", "--max-steps", "3", "--batch-size", "8",
                "--set", "target_column=grade", "--threads", "1", "--output-dir", str(run))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert config["num_numerical_features"] == 3 and config["categorical_cardinalities"] == [3]  # + unknown
    assert config["target_column"] == "grade" and config["id_columns"] == ["batch"]
    saved = json.loads((run / "preprocessor_config.json").read_text())
    train = pd.concat(parts[:2], ignore_index=True)  # the first rows in file order: all 60 (< 10 000)
    options = processor_options(TabularJepaConfig.from_preset("tiny", target_column="grade"))
    expected = TabularJepaProcessor(**options, verbose=False).fit(train)
    assert saved["categories"] == {"site": ["north", "south"]} == expected.categories  # no "east": test rows unseen
    assert saved["numerical_columns"] == expected.numerical_columns == ["load", "temperature", "pressure"]
    for column in expected.numerical_columns:
        np.testing.assert_allclose(saved["numerical_stats"][column]["quantiles"],
                                   expected.numerical_stats[column]["quantiles"], rtol=1e-12)  # fmt: skip
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert [row["step"] for row in history] == [1, 2, 3] and all(math.isfinite(row["loss"]) for row in history)
    # the map-style verbs read the shards: train-* and test-* are the splits, the ids are the `batch` column
    jepa_ok("embed", str(run), "--data", str(shards), "--output", str(tmp_path / "rows.parquet"))
    rows = pd.read_parquet(tmp_path / "rows.parquet")
    assert sorted(rows["id"]) == sorted(pd.concat(parts)["batch"])
    result = jepa_ok("evaluate", str(run), "--data", str(shards)).stdout
    assert 0 <= json.loads(result[result.index("{") :])["linear_probe_accuracy"] <= 1
