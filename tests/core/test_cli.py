import json

import numpy as np
import pandas as pd
import pytest
import torch
from jepa_core.cli import main
from jepa_core.domain import register_domain
from toy_domain import ToySignals, toy_domain, with_processor
from transformers import AutoModel


@pytest.fixture(autouse=True)
def toy():
    register_domain(toy_domain())


def test_list_shows_the_domain_and_presets(capsys):
    assert main(["list", "toy"]) == 0
    out = capsys.readouterr().out
    assert "toy" in out and "jepa-toy" in out and "tiny" in out and "ToyConfig" in out


def test_unknown_domain_names_the_package_to_install(capsys):
    assert main(["pretrain", "nonexistent-jepa"]) == 2
    assert "pip install jepa-nonexistent" in capsys.readouterr().err


def test_pretrain_evaluate_score_embed_push(tmp_path, capsys, fake_hub, monkeypatch):
    run = tmp_path / "run"
    assert main(["pretrain", "toy", "--output-dir", str(run), "--max-steps", "6", "--batch-size", "8"]) == 0
    card = (run / "README.md").read_text()
    assert "library_name: jepa-toy" in card and "noisy sines of 4 frequencies" in card
    assert json.loads((run / "metrics.json").read_text())["train"]["steps"] == 6
    assert json.loads((run / "preprocessor_config.json").read_text())["feature_extractor_type"] == "ToyFeatureExtractor"
    capsys.readouterr()

    assert main(["evaluate", str(run)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["headline_metric"] == "linear_probe_accuracy" and 0.25 < result["linear_probe_accuracy"] <= 1.0
    assert "knn_accuracy" in result
    assert "model-index:" in (run / "README.md").read_text()

    assert main(["score", str(run), "--num-samples", "3"]) == 0
    scores = json.loads(capsys.readouterr().out)["jepa_score"]
    assert len(scores) == 3 and all(np.isfinite(scores))

    assert main(["embed", str(run), "--output", str(tmp_path / "e.parquet")]) == 0
    table = pd.read_parquet(tmp_path / "e.parquet")
    assert len(table) == 384 and len(table["embedding"][0]) == 32 and set(table["label"]) == {0, 1, 2, 3}
    assert main(["embed", str(run), "--output", str(tmp_path / "e.npy")]) == 0
    matrix = np.load(tmp_path / "e.npy")
    assert np.allclose(matrix, np.stack(table["embedding"]), atol=1e-6)
    assert pd.read_csv(tmp_path / "e.index.csv")["id"].tolist() == list(range(384))

    root, seen = fake_hub
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    assert main(["push", str(run), "--repo-id", "me/toy"]) == 0
    assert seen["tokens"][-1] == "hf_secret" and "hf_secret" not in capsys.readouterr().out
    uploaded = sorted(p.relative_to(root / "me/toy").as_posix() for p in (root / "me/toy").rglob("*") if p.is_file())
    assert "model.safetensors" in uploaded and "README.md" in uploaded and "preprocessor_config.json" in uploaded
    assert not any(p.startswith(("checkpoints/", "pretraining/")) for p in uploaded)
    snippet = (root / "me/toy/README.md").read_text().split("```python")[1]
    assert '"me/toy"' in snippet and str(run) not in snippet  # the card now names the repo, not the local folder
    reloaded = AutoModel.from_pretrained(root / "me/toy")
    local = AutoModel.from_pretrained(run)
    x = ToySignals(2).signals
    assert torch.equal(reloaded(x).last_hidden_state, local(x).last_hidden_state)


def test_pretrain_on_user_data_and_bad_folders(tmp_path, capsys):
    data = tmp_path / "signals.npy"
    np.save(data, ToySignals(32).raw.numpy())
    run = tmp_path / "run"
    args = ["pretrain", "toy", "--data", str(data), "--output-dir", str(run), "--max-steps", "2", "--batch-size", "8"]
    assert main(args) == 0
    bad = tmp_path / "short.npy"
    np.save(bad, np.zeros((4, 7)))
    assert main([*args[:2], "--data", str(bad), *args[4:]]) == 2
    assert "pass --set signal_length=7" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--data", str(tmp_path / "signals.npy")]) == 2
    assert "has no labels" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert main(["evaluate", str(tmp_path / "other")]) == 2
    assert "no installed JEPA domain handles model type 'bert'" in capsys.readouterr().err


def test_evaluate_refuses_meaningless_splits(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["pretrain", "toy", "--output-dir", str(run), "--max-steps", "1", "--batch-size", "8"]) == 0
    signals = ToySignals(64)
    one_class = tmp_path / "one_class.npz"
    labels = signals.labels.numpy().copy()
    labels[48:] = 1
    np.savez(one_class, signals=signals.raw.numpy(), labels=labels)
    assert main(["evaluate", str(run), "--data", str(one_class)]) == 2
    assert "the test split has a single class" in capsys.readouterr().err
    same = tmp_path / "same.npz"
    raw = np.concatenate([signals.raw.numpy()[:16]] * 4)  # the last quarter repeats the first: train == test
    np.savez(same, signals=raw[:64], labels=np.tile(np.arange(4), 16))
    assert main(["evaluate", str(run), "--data", str(same)]) == 2
    assert "every test sample is also in the train split" in capsys.readouterr().err
    good = tmp_path / "good.npz"
    np.savez(good, signals=signals.raw.numpy(), labels=signals.labels.numpy())
    assert main(["evaluate", str(run), "--data", str(good)]) == 0
    assert json.loads(capsys.readouterr().out)["headline_metric"] == "linear_probe_accuracy"
    frequencies = tmp_path / "frequencies.npz"  # a regression target in a domain whose headline is an accuracy
    np.savez(frequencies, signals=signals.raw.numpy(), labels=2.0 + 3.0 * signals.labels.numpy())
    assert main(["evaluate", str(run), "--data", str(frequencies)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["headline_metric"] == "linear_probe_r2" and "does not apply" in result["notes"][0]


def test_set_overrides_config_fields_and_names_the_valid_ones(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["pretrain", "toy", "--output-dir", str(run), "--max-steps", "1", "--batch-size", "8"]
    assert main([*args, "--set", "patch_size=4", "--set", "drop_path_rate=0.1", "--lr", "1e-4"]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert (saved["patch_size"], saved["drop_path_rate"], saved["learning_rate"]) == (4, 0.1, 1e-4)
    assert main([*args, "--set", "patch_sise=16"]) == 2
    err = capsys.readouterr().err
    assert "no field 'patch_sise'" in err and "Did you mean patch_size" in err and "signal_length" in err
    assert main([*args, "--set", "patch_size"]) == 2
    assert "FIELD=VALUE" in capsys.readouterr().err
    assert main([*args, "--set", "patch_size=big"]) == 2
    assert "patch_size" in capsys.readouterr().err


def test_training_flags_are_checked_up_front(capsys):
    for flag, value in (("--max-steps", "-5"), ("--save-every", "0"), ("--gradient-accumulation-steps", "0")):
        assert main(["pretrain", "toy", flag, value]) == 2
        assert f"{flag} must be at least 1" in capsys.readouterr().err


def test_demo_prints_a_comparison_table(tmp_path, capsys):
    run = tmp_path / "demo"
    assert main(["demo", "toy", "--output-dir", str(run), "--max-steps", "4", "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "reloaded as ToyModel through AutoModel" in out
    row = next(line for line in out.splitlines() if line.startswith("toy "))
    assert "linear_probe_accuracy" in row
    knn = next(line for line in out.splitlines() if "knn_accuracy" in line)
    assert "pretrained" in knn and "random init" in knn


def test_domain_hooks_see_the_training_data(tmp_path):
    import dataclasses

    def load_any_length(path, split, config, processor=None):
        dataset = ToySignals(0)
        dataset.raw = torch.from_numpy(np.load(path)).float()
        dataset.labels = None
        return with_processor(dataset, split, processor)

    seen = {}

    def adapt_config(config, dataset):
        return config.__class__(**{**config.to_dict(), "signal_length": dataset.raw.shape[-1]})

    def prepare_model(model, dataset):
        seen["length"] = model.config.signal_length

    hooked = dataclasses.replace(
        toy_domain(), load_dataset=load_any_length, adapt_config=adapt_config, prepare_model=prepare_model
    )
    register_domain(hooked)
    data = tmp_path / "signals.npy"
    np.save(data, ToySignals(32, length=256).raw.numpy())  # the preset says 128 samples
    run = tmp_path / "run"
    assert main(["pretrain", "toy", "--data", str(data), "--output-dir", str(run), "--max-steps", "2",
                 "--batch-size", "8", "--threads", "1"]) == 0  # fmt: skip
    assert seen["length"] == 256
    assert json.loads((run / "config.json").read_text())["signal_length"] == 256
    assert (run / "preprocessor_config.json").is_file()


def test_invalid_preset_and_config_values_are_clear_errors(capsys):
    assert main(["pretrain", "toy", "--preset", "gigantic"]) == 2
    assert "unknown preset 'gigantic'" in capsys.readouterr().err
