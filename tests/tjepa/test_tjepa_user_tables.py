"""A user's own tables through the `jepa` command (fresh interpreters): a CSV folder with another column count,
categoricals with missing values, an id column, an entirely empty column and an unseen test category; its
Parquet copy for evaluation and scoring; a regression Parquet file; and the pre-check's messages."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from jepa_cli import jepa


def _json(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("{") :])


def patients(rows: int, first_id: int, seed: int) -> pd.DataFrame:
    """4 informative numerical columns (`dose` with holes), `color` (3 values + holes) and `city` categoricals,
    a `patient_id`, an entirely empty `notes` column and a yes/no `outcome`."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"patient_id": np.arange(first_id, first_id + rows)})
    for name in ("x1", "x2", "x3"):
        frame[name] = rng.normal(size=rows)
    frame["color"] = rng.choice(["red", "green", "blue", None], rows, p=[0.3, 0.3, 0.3, 0.1])
    frame["dose"] = np.where(rng.random(rows) < 0.15, np.nan, rng.gamma(2.0, size=rows))
    frame["city"] = rng.choice(["Oslo", "Lima", "Pune"], rows)
    frame["notes"] = np.nan
    frame["outcome"] = np.where(frame["x1"] + (frame["color"] == "red") > 0.5, "yes", "no")
    return frame


@pytest.mark.slow
def test_csv_and_parquet_tables_of_another_schema(tmp_path):
    import tjepa  # noqa: F401  (registers the Auto classes)
    from transformers import AutoModel, AutoProcessor

    csv, parquet, run = tmp_path / "csv", tmp_path / "parquet", tmp_path / "run"
    train, test = patients(96, 1000, 0), patients(40, 2000, 1)
    test.loc[test.index[:3], "color"] = "purple"  # unseen in training: the unknown bucket
    for folder, write in ((csv, "to_csv"), (parquet, "to_parquet")):
        folder.mkdir()
        for name, frame in (("train", train), ("test", test)):
            getattr(frame, write)(folder / f"{name}.{folder.name}", index=False)

    done = jepa("pretrain", "tjepa", "--preset", "tiny", "--data", str(csv), "--max-steps", "3",
                "--set", "target_column=outcome", "--output-dir", str(run), "--threads", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "imputing missing values" in done.stderr and "'dose'" in done.stderr and "'color'" in done.stderr
    assert "empty ['notes']" in done.stderr and "identifier columns ['patient_id']" in done.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["num_numerical_features"] == 4 and config["categorical_cardinalities"] == [4, 4]  # + unknown
    assert config["target_column"] == "outcome" and config["task"] == "classification"
    assert config["id_columns"] == ["patient_id"] and config["missing_values"] == "impute"
    processor = AutoProcessor.from_pretrained(run)
    assert processor.numerical_columns == ["x1", "x2", "x3", "dose"]
    assert processor.categories == {"color": ["blue", "green", "red"], "city": ["Lima", "Oslo", "Pune"]}
    assert processor.numerical_stats["dose"]["median"] == pytest.approx(train["dose"].median())
    encoder = AutoModel.from_pretrained(run).eval()
    tokenizer_sizes = {k: tuple(v.shape) for k, v in encoder.state_dict().items() if "numerical_weight" in k}
    assert list(tokenizer_sizes.values()) == [(4, 32)]
    assert any(tuple(v.shape) == (8, 32) for k, v in encoder.state_dict().items() if "category_embeddings" in k)

    done = jepa("evaluate", str(run), "--data", str(parquet))  # the user's labels, from the Parquet copy
    assert done.returncode == 0, done.stderr[-3000:]
    result = _json(done.stdout)
    assert result["headline_metric"] == "linear_probe_accuracy" and 0.5 < result["linear_probe_accuracy"] <= 1
    done = jepa("score", str(run), "--data", str(parquet), "--num-samples", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert np.isfinite(_json(done.stdout)["jepa_score"]).all()
    done = jepa("embed", str(run), "--data", str(csv), "--output", str(tmp_path / "rows.parquet"))
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_parquet(tmp_path / "rows.parquet").set_index("id")
    rows = pd.concat([train, test])
    assert sorted(table.index) == sorted(rows["patient_id"].astype(str))  # the ids are the user's
    assert set(table["label"]) == {0, 1}
    with torch.no_grad():
        again = encoder.embed(**processor(rows, return_tensors="pt")).numpy()
    saved = np.stack(table.loc[rows["patient_id"].astype(str), "embedding"])
    np.testing.assert_allclose(saved, again, rtol=1e-4, atol=1e-5)  # the run's processor, reloaded


@pytest.mark.slow
def test_regression_parquet_and_the_pre_check(tmp_path):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"area": rng.gamma(3.0, size=150), "rooms": rng.integers(1, 7, 150).astype(float)})
    frame["age"], frame["season"] = rng.normal(30, 10, 150), rng.choice(["w", "sp", "su", "f"], 150)
    frame["price"] = 2 * frame["area"] + frame["rooms"] + rng.normal(0, 0.1, 150)
    frame.to_parquet(tmp_path / "houses.parquet")
    run = tmp_path / "run"
    done = jepa("pretrain", "tjepa", "--preset", "tiny", "--data", str(tmp_path / "houses.parquet"), "--max-steps",
                "3", "--set", "target_column=price", "--output-dir", str(run), "--threads", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert (config["num_numerical_features"], config["categorical_cardinalities"]) == (3, [5])
    assert config["task"] == "regression"
    done = jepa("evaluate", str(run), "--data", str(tmp_path / "houses.parquet"))
    assert done.returncode == 0, done.stderr[-3000:]
    result = _json(done.stdout)
    assert result["headline_metric"] == "linear_probe_r2" and np.isfinite(result["linear_probe_r2"])

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.csv").write_text("")
    (bad / "test.csv").write_text("a,b,target\n")
    done = jepa("pretrain", "tjepa", "--data", str(bad), "--output-dir", str(tmp_path / "r"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "2 of 2 table files cannot be used" in done.stderr
    assert "train.csv: unreadable" in done.stderr and "test.csv: no rows" in done.stderr

    from tjepa import TabularJepaConfig
    from tjepa.data import load_dataset

    frame.assign(label="a").to_csv(tmp_path / "one.csv", index=False)
    config = TabularJepaConfig.from_preset("tiny", id_columns=["key"])
    with pytest.raises(ValueError, match="table cannot be used") as error:
        load_dataset(str(tmp_path / "one.csv"), "train", config)
    assert "columns ['key'] are not in the table" in str(error.value)
    assert "'label' has a single value 'a'" in str(error.value)
