"""TabularJepaProcessor: fitted scaling and vocabularies, schema inference, formats, save → load, bad input."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from jepa_core.overrides import ConfigFieldError
from sklearn.preprocessing import QuantileTransformer, StandardScaler
from tjepa import TabularJepaConfig, TabularJepaProcessor
from transformers import AutoFeatureExtractor, AutoProcessor


def table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    g = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": g.normal(40, 10, n), "income": g.lognormal(10, 1, n), "color": g.choice(["red", "green", "blue"], n),
        "flag": g.choice([True, False], n), "target": g.choice(["yes", "no"], n),
    })  # fmt: skip


def fitted(frame=None, **kwargs) -> TabularJepaProcessor:
    return TabularJepaProcessor(verbose=False, **kwargs).fit(table() if frame is None else frame)


def test_schema_is_inferred_and_summarised(capsys):
    processor = TabularJepaProcessor().fit(table())
    assert processor.numerical_columns == ["age", "income"]
    assert processor.categorical_columns == ["color", "flag"]
    assert (processor.target_column, processor.task, processor.classes) == ("target", "classification", ["no", "yes"])
    printed = capsys.readouterr().out
    assert (
        "2 numerical (quantile scaling), 2 categorical" in printed and "'target' (classification, 2 classes)" in printed
    )
    assert processor.config_overrides() == {"num_numerical_features": 2, "categorical_cardinalities": [4, 3]}
    processor.check_config(TabularJepaConfig(**processor.config_overrides()))
    with pytest.raises(ConfigFieldError, match="TabularJepaConfig") as error:
        processor.check_config(TabularJepaConfig())
    assert "--set num_numerical_features=2" in error.value.cli_message()


def test_declared_schema_and_regression_target():
    frame = table().assign(price=np.linspace(0, 1, 60), code=np.arange(60) % 3)
    with pytest.warns(UserWarning, match=r"outside the declared schema: \['income', 'flag'\]"):
        processor = fitted(
            frame.drop(columns="target"),
            categorical_columns=["color", "code"],
            numerical_columns=["age"],
            target_column="price",
        )
    assert processor.categorical_columns == ["color", "code"] and processor.task == "regression"
    out = processor.transform(frame.drop(columns=["target", "income", "flag"]))
    torch.testing.assert_close(out["labels"], torch.linspace(0, 1, 60))
    assert out["categorical_features"][:, 1].tolist() == (np.arange(60) % 3 + 1).tolist()


def test_quantile_and_standard_scaling_match_scikit_learn():
    frame = table(200)
    ours = fitted(frame, n_quantiles=50).transform(frame)["numerical_features"].numpy()
    ref = QuantileTransformer(n_quantiles=50, output_distribution="normal").fit_transform(frame[["age", "income"]])
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    new = table(30, seed=1)  # unseen rows, including values outside the training range
    new.loc[0, "age"] = 1e6
    ours_new = fitted(frame, n_quantiles=50).transform(new)["numerical_features"].numpy()
    ref_new = (
        QuantileTransformer(n_quantiles=50, output_distribution="normal")
        .fit(frame[["age", "income"]])
        .transform(new[["age", "income"]])
    )
    np.testing.assert_allclose(ours_new, ref_new, atol=1e-5)
    standard = fitted(frame, scaling="standard").transform(new)["numerical_features"].numpy()
    np.testing.assert_allclose(
        standard, StandardScaler().fit(frame[["age", "income"]]).transform(new[["age", "income"]]), rtol=1e-5
    )


def test_categories_have_an_unknown_bucket():
    processor = fitted()
    new = table(4).assign(color=["red", "purple", "blue", "green"])
    codes = processor.transform(new)["categorical_features"][:, 0].tolist()
    assert codes == [3, 0, 1, 2]  # vocabulary blue, green, red → 1, 2, 3; unseen → 0
    with pytest.raises(ValueError, match=r"categories \['purple'\] not seen in training"):
        fitted(unknown_categories="error").transform(new)


def test_save_load_preprocesses_identically(tmp_path):
    processor = fitted(missing_values="impute")
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())  # plain JSON, no second file
    assert saved["feature_extractor_type"] == "TabularJepaProcessor" and saved["categories"]["color"][0] == "blue"
    assert len(saved["numerical_stats"]["age"]["quantiles"]) == 60 and saved["task"] == "classification"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preprocessor_config.json"]
    TabularJepaConfig(**processor.config_overrides()).save_pretrained(tmp_path)
    for loaded in (
        TabularJepaProcessor.from_pretrained(tmp_path),
        AutoProcessor.from_pretrained(tmp_path),
        AutoFeatureExtractor.from_pretrained(tmp_path),
    ):
        assert type(loaded) is TabularJepaProcessor and loaded.fitted
        new = table(20, seed=5)
        new.loc[3, "age"] = np.nan
        a, b = processor.transform(new), loaded.transform(new)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key])
    assert a["numerical_features"][3, 0].item() == pytest.approx(0.0, abs=0.05)  # the training median → about 0
    with pytest.raises(OSError):
        TabularJepaProcessor.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(RuntimeError, match="not fitted"):
        TabularJepaProcessor().save_pretrained(tmp_path / "unfitted")


def test_call_gives_the_encoder_inputs():
    processor = fitted()
    inputs = processor(table(5), return_tensors="pt")
    assert set(inputs) == {"numerical_features", "categorical_features"}
    assert inputs["numerical_features"].shape == (5, 2) and inputs["categorical_features"].dtype == torch.int64
    assert set(processor(table(5), return_labels=True)) == {"numerical_features", "categorical_features", "labels"}
    assert isinstance(processor(table(5), return_tensors="np")["numerical_features"], np.ndarray)
    row = table(5).iloc[0].to_dict()
    torch.testing.assert_close(processor(row)["numerical_features"], inputs["numerical_features"][:1])


def test_csv_parquet_and_datasets_inputs(tmp_path):
    import datasets

    frame = table()
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    datasets.Dataset.from_pandas(frame).save_to_disk(str(tmp_path / "ds"))
    reference = fitted(frame).transform(frame)
    for source in (
        tmp_path / "t.csv",
        str(tmp_path / "t.parquet"),
        datasets.Dataset.from_pandas(frame),
        tmp_path / "ds",
    ):
        out = fitted(source).transform(source)
        torch.testing.assert_close(out["numerical_features"], reference["numerical_features"])
        assert torch.equal(out["labels"], reference["labels"])
    with pytest.raises(ValueError, match="unsupported table format"):
        (tmp_path / "t.xlsx").write_text("x")
        fitted(tmp_path / "t.xlsx")
    with pytest.raises(FileNotFoundError, match="no table"):
        fitted(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="one split"):
        fitted(datasets.DatasetDict({"train": datasets.Dataset.from_pandas(frame)}))


def test_bad_input_errors_and_policies():
    processor = fitted()
    with pytest.raises(ValueError, match=r"lacks the columns \['income'\]"):
        processor.transform(table().drop(columns="income"))
    with pytest.warns(UserWarning, match=r"ignoring columns .*\['extra'\]"):
        out = processor.transform(table().assign(extra=1.0))
    assert out["numerical_features"].shape == (60, 2)
    nan_rows = table()
    nan_rows.loc[2, "age"] = np.nan
    with pytest.raises(ValueError, match=r"'age' has 1 missing values.*missing_values='impute'"):
        processor.transform(nan_rows)
    with pytest.raises(ValueError, match=r"'age' has 1 missing values"):
        fitted(nan_rows)
    text_rows = table().astype({"age": object})
    text_rows.loc[4, "age"] = "forty"
    with pytest.raises(ValueError, match=r"numerical column 'age' has text values \['forty'\]"):
        processor.transform(text_rows)
    with pytest.raises(ValueError, match=r"column 'age' looks numerical but has text values \['forty'\]"):
        fitted(text_rows)
    inf_rows = table()
    inf_rows.loc[1, "income"] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        processor.transform(inf_rows)
    with pytest.raises(ValueError, match="empty"):
        processor.transform(table().iloc[:0])
    with pytest.raises(ValueError, match="empty"):
        fitted(pd.DataFrame())
    with pytest.raises(RuntimeError, match="not fitted"):
        TabularJepaProcessor().transform(table())


def test_constant_columns_are_dropped(capsys):
    processor = TabularJepaProcessor().fit(table().assign(const=7.0, same="a"))
    assert processor.dropped_columns == ["const", "same"]
    assert "dropped constant columns: ['const', 'same']" in capsys.readouterr().out
    assert processor.transform(table())["numerical_features"].shape == (60, 2)  # not required at transform
    with pytest.raises(ValueError, match="no informative feature"):
        fitted(pd.DataFrame({"a": [1.0, 1.0], "target": [0, 1]}))
