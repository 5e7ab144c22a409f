import json

import numpy as np
import pytest
import torch
from jepa_core.cli import main
from jepa_core.domain import register_domain
from toy_domain import ToySignals, toy_domain
from transformers import AutoModel


@pytest.fixture(autouse=True)
def toy():
    register_domain(toy_domain())


def test_list_shows_the_domain_and_presets(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "toy" in out and "jepa-toy" in out and "tiny" in out


def test_unknown_domain_names_the_package_to_install(capsys):
    assert main(["pretrain", "nonexistent-jepa"]) == 2
    assert "pip install jepa-nonexistent" in capsys.readouterr().err


def test_pretrain_evaluate_score_push(tmp_path, capsys, fake_hub):
    run = tmp_path / "run"
    assert main(["pretrain", "toy", "--output-dir", str(run), "--max-steps", "6", "--batch-size", "8"]) == 0
    card = (run / "README.md").read_text()
    assert "library_name: jepa-toy" in card and "jepa" in card and "train_final_loss" in card
    assert json.loads((run / "metrics.json").read_text())["train"]["steps"] == 6
    capsys.readouterr()

    assert main(["evaluate", str(run)]) == 0
    accuracy = json.loads(capsys.readouterr().out)["probe_accuracy"]
    assert 0.0 < accuracy <= 1.0

    assert main(["score", str(run), "--num-samples", "3"]) == 0
    scores = json.loads(capsys.readouterr().out)["jepa_score"]
    assert len(scores) == 3 and all(np.isfinite(scores))

    root, _ = fake_hub
    assert main(["push", str(run), "--repo-id", "me/toy", "--token", "hf_secret"]) == 0
    uploaded = sorted(p.relative_to(root / "me/toy").as_posix() for p in (root / "me/toy").rglob("*") if p.is_file())
    assert "model.safetensors" in uploaded and "README.md" in uploaded
    assert not any(p.startswith(("checkpoints/", "pretraining/")) for p in uploaded)
    assert "hf_secret" not in capsys.readouterr().out
    reloaded = AutoModel.from_pretrained(root / "me/toy")
    local = AutoModel.from_pretrained(run)
    x = ToySignals(2).signals
    assert torch.equal(reloaded(x).last_hidden_state, local(x).last_hidden_state)


def test_pretrain_on_user_data_and_bad_folders(tmp_path, capsys):
    data = tmp_path / "signals.npy"
    np.save(data, ToySignals(32).signals[:, 0].numpy())
    run = tmp_path / "run"
    args = ["pretrain", "toy", "--data", str(data), "--output-dir", str(run), "--max-steps", "2", "--batch-size", "8"]
    assert main(args) == 0
    np.save(data, np.zeros((4, 7)))
    assert main([*args[:-4], "--max-steps", "2"]) == 2
    assert "expected signals shaped" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert main(["evaluate", str(tmp_path / "other")]) == 2
    assert "no installed JEPA domain handles model type 'bert'" in capsys.readouterr().err


def test_demo_prints_a_comparison_table(tmp_path, capsys):
    run = tmp_path / "demo"
    assert main(["demo", "toy", "--output-dir", str(run), "--max-steps", "4", "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "reloaded as ToyModel through AutoModel" in out
    assert "probe_accuracy" in out and "random init" in out


def test_demo_prints_every_metric_of_both_models(tmp_path, capsys, monkeypatch):
    import dataclasses

    from jepa_core import domain

    def evaluate(encoder, config, data):
        return {"headline": 0.5, "second_metric": float(sum(p.abs().sum() for p in encoder.parameters()))}

    two_metrics = dataclasses.replace(toy_domain(), name="toy-two-metrics", evaluate=evaluate)
    monkeypatch.setitem(domain._registered, two_metrics.name, two_metrics)  # removed again after the test
    args = ["demo", "toy-two-metrics", "--output-dir", str(tmp_path), "--max-steps", "2", "--batch-size", "8"]
    assert main(args) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "second_metric" in line)
    ours, theirs = float(line.split()[2]), float(line.split()[5])
    assert "pretrained" in line and "random init" in line and ours != theirs


def test_domain_hooks_see_the_training_data(tmp_path):
    import dataclasses

    class Processor:
        def save_pretrained(self, folder):
            (folder / "processor_config.json").write_text("{}")

    def load_any_length(path, split, config):
        dataset = ToySignals(0)
        dataset.signals = torch.from_numpy(np.load(path)).float()[:, None]
        dataset.labels = torch.zeros(len(dataset.signals), dtype=torch.long)
        dataset.processor = Processor()
        return dataset

    seen = {}

    def adapt_config(config, dataset):
        return config.__class__(**{**config.to_dict(), "signal_length": dataset.signals.shape[-1]})

    def prepare_model(model, dataset):
        seen["length"] = model.config.signal_length

    hooked = dataclasses.replace(
        toy_domain(), load_dataset=load_any_length, adapt_config=adapt_config, prepare_model=prepare_model
    )
    register_domain(hooked)
    data = tmp_path / "signals.npy"
    np.save(data, ToySignals(32, length=256).signals[:, 0].numpy())  # the preset says 128 samples
    run = tmp_path / "run"
    assert main(["pretrain", "toy", "--data", str(data), "--output-dir", str(run), "--max-steps", "2",
                 "--batch-size", "8", "--threads", "1"]) == 0  # fmt: skip
    assert seen["length"] == 256
    assert json.loads((run / "config.json").read_text())["signal_length"] == 256
    assert (run / "processor_config.json").is_file()


def test_invalid_preset_and_config_values_are_clear_errors(capsys):
    assert main(["pretrain", "toy", "--preset", "gigantic"]) == 2
    assert "unknown preset 'gigantic'" in capsys.readouterr().err
