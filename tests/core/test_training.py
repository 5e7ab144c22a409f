import json

import pytest
import torch
from jepa_core.training import NonFiniteLossError, RunFolderError, TrainingArguments, latest_checkpoint, pretrain
from jepa_core.training.checkpoint import checkpoints_by_step
from safetensors.torch import load_file
from toy_domain import ToyConfig, ToyForPreTraining, ToyModel, ToySignals, toy_collator
from transformers import AutoModel, AutoModelForPreTraining


def _run(tmp_path, name, dataset=None, config=None, **overrides):
    config = config or ToyConfig.from_preset("tiny")
    torch.manual_seed(0)
    model = ToyForPreTraining(config)
    args = TrainingArguments.from_config(config, str(tmp_path / name), show_progress=False, **overrides)
    metrics = pretrain(model, dataset if dataset is not None else ToySignals(), toy_collator(config), args)
    return model, metrics


def test_pretraining_lowers_loss_keeps_rank_and_reloads(tmp_path):
    model, metrics = _run(tmp_path, "run", max_steps=60, rankme_every=20, save_every=30)
    assert metrics["steps"] == 60
    assert metrics["final_loss"] < 0.7 * metrics["initial_loss"]
    assert metrics["final_rankme"] > 1.5
    run = tmp_path / "run"
    for name in ["config.json", "model.safetensors", "metrics.json", "training_curves.png", "pretraining/config.json"]:
        assert (run / name).is_file(), name
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert [row["step"] for row in history] == list(range(1, 61))
    assert history[-1]["momentum"] == pytest.approx(1.0 - (1.0 - model.config.ema_momentum_start) / 60)
    encoder = AutoModel.from_pretrained(run)
    assert isinstance(encoder, ToyModel)
    x = ToySignals(4).signals
    assert torch.equal(encoder(x).last_hidden_state, model.export_encoder()(x).last_hidden_state)


def test_pretraining_checkpoint_loads_with_auto_model_for_pretraining(tmp_path):
    model, _ = _run(tmp_path, "run", max_steps=4)
    reloaded = AutoModelForPreTraining.from_pretrained(tmp_path / "run" / "pretraining")
    state, expected = reloaded.state_dict(), model.state_dict()
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[k], expected[k]) for k in state)


class CrashingSignals(ToySignals):
    """Raises once it has served `crash_after` samples, like a killed process."""

    crash_after = 10**9

    def __getitem__(self, index):
        self.crash_after -= 1
        if self.crash_after < 0:
            raise RuntimeError("simulated crash")
        return super().__getitem__(index)


def test_resume_is_exact(tmp_path):
    """Random augmentation in the data and drop-path in the model: both must replay exactly after a crash."""
    config = ToyConfig.from_preset("tiny", drop_path_rate=0.2)
    augmented = ToySignals()
    augmented.augment = True
    uninterrupted, _ = _run(tmp_path, "full", dataset=augmented, config=config, max_steps=12, save_every=5)
    crashing = CrashingSignals()
    crashing.augment = True
    crashing.crash_after = 16 * 8 + 3  # dies inside step 9, after the step-5 checkpoint
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(tmp_path, "crash", dataset=crashing, config=config, max_steps=12, save_every=5)
    assert latest_checkpoint(tmp_path / "crash" / "checkpoints").name == "step_00000005"
    resumed, _ = _run(tmp_path, "crash", dataset=augmented, config=config, max_steps=12, save_every=5, resume=True)
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())["history"]
    again = json.loads((tmp_path / "crash" / "metrics.json").read_text())["history"]
    assert [r["loss"] for r in again] == [r["loss"] for r in full]
    for key, value in uninterrupted.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_interrupted_checkpoint_write_is_ignored(tmp_path):
    _run(tmp_path, "run", max_steps=4, save_every=2)
    root = tmp_path / "run" / "checkpoints"
    (root / ".tmp_step_00000006").mkdir()  # a write that never finished
    assert latest_checkpoint(root).name == "step_00000004"
    (root / "latest").unlink()
    assert latest_checkpoint(root).name == "step_00000004"
    weights = load_file(str(root / "step_00000004" / "model.safetensors"))
    assert any(key.startswith("context_encoder.") for key in weights)


def test_non_finite_loss_stops_with_a_clear_message(tmp_path):
    poisoned = ToySignals()
    poisoned.raw[:] = float("nan")
    with pytest.raises(NonFiniteLossError, match="nan at step 1"):
        _run(tmp_path, "nan", dataset=poisoned, max_steps=3)


def test_bad_inputs_get_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        _run(tmp_path, "empty", dataset=ToySignals(0))
    with pytest.raises(ValueError, match="fit the 4 samples"):
        _run(tmp_path, "small", dataset=ToySignals(4))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        _run(tmp_path, "fresh", resume=True)
    with pytest.raises(ValueError, match="unknown preset 'huge'.*tiny"):
        ToyConfig.from_preset("huge")


def test_activation_checkpointing_and_accumulation_keep_the_numbers(tmp_path):
    _, plain = _run(tmp_path, "plain", max_steps=3)
    model, checkpointed = _run(tmp_path, "ckpt", max_steps=3, activation_checkpointing=True)
    assert all(block.gradient_checkpointing for block in model.context_encoder.encoder.blocks)
    assert checkpointed["final_loss"] == pytest.approx(plain["final_loss"], rel=1e-5)
    _, accumulated = _run(tmp_path, "accum", max_steps=3, gradient_accumulation_steps=2)
    history = json.loads((tmp_path / "accum" / "metrics.json").read_text())["history"]
    assert [row["step"] for row in history] == [1, 2, 3]
    assert accumulated["final_loss"] == pytest.approx(plain["final_loss"], rel=0.05)


def test_bf16_mixed_precision_trains(tmp_path):
    _, metrics = _run(tmp_path, "bf16", max_steps=30, mixed_precision="bf16")
    assert metrics["final_loss"] < 0.8 * metrics["initial_loss"]


def test_tensorboard_without_the_package_says_what_to_install(tmp_path, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "tensorboard" else real_find_spec(name)
    )
    with pytest.raises(ImportError, match=r"jepa-core\[tensorboard\]"):
        _run(tmp_path, "tb", max_steps=1, tensorboard=True)


def test_collator_states_round_trip_through_json_and_safetensors():
    from jepa_core.training.checkpoint import join_collator_states, split_collator_state

    states = [{"generator": torch.arange(4, dtype=torch.uint8), "step": 7}, {"generator": torch.ones(2), "step": 9}]
    plain, tensors = join_collator_states(states)
    assert json.loads(json.dumps(plain)) == [{"step": 7}, {"step": 9}]
    restored = split_collator_state(plain, tensors, 1)
    assert restored["step"] == 9 and torch.equal(restored["generator"], torch.ones(2))


def test_a_module_can_set_its_own_init_std():
    config = ToyConfig.from_preset("tiny")
    model = ToyModel(config)
    assert model.patch_embed.proj.weight.std().item() == pytest.approx(config.initializer_range, rel=0.2)
    model.patch_embed.proj.init_std = 0.5
    model._init_weights(model.patch_embed.proj)
    assert model.patch_embed.proj.weight.std().item() == pytest.approx(0.5, rel=0.2)
    model._init_weights(model.encoder.blocks[0].mlp.fc1)
    assert model.encoder.blocks[0].mlp.fc1.weight.std().item() == pytest.approx(config.initializer_range, rel=0.2)


def test_a_run_folder_is_never_mixed_or_lost(tmp_path):
    shared = ToyConfig.from_preset("tiny")
    _run(tmp_path, "run", config=shared, max_steps=4, save_every=2)
    assert shared.architectures == ["ToyForPreTraining"]  # saving filled in transformers' bookkeeping
    weights = (tmp_path / "run" / "model.safetensors").read_bytes()
    with pytest.raises(RunFolderError, match="already holds a run.*--resume.*--overwrite"):
        _run(tmp_path, "run", max_steps=2)
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == weights
    with pytest.raises(ValueError, match=r"batch_size: saved 16, now 8 \(--batch-size\)"):
        _run(tmp_path, "run", max_steps=6, resume=True, batch_size=8)
    with pytest.raises(ValueError, match=r"hidden_size: saved 32, now 64 \(--set hidden_size=…\)"):
        _run(tmp_path, "run", config=ToyConfig.from_preset("tiny", hidden_size=64), max_steps=6, resume=True)
    _, metrics = _run(tmp_path, "run", config=shared, max_steps=6, save_every=2, resume=True)  # longer may resume
    assert metrics["steps"] == 6
    _run(tmp_path, "run", max_steps=2, overwrite=True)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["train"]["steps"] == 2
    assert [p.name for p in checkpoints_by_step(tmp_path / "run" / "checkpoints")] == ["step_00000002"]


def test_checkpoints_sort_by_step_at_any_digit_count(tmp_path):
    for name in ("step_99999999", "step_100000000", "step_00000005"):
        (tmp_path / name).mkdir()
    assert [p.name for p in checkpoints_by_step(tmp_path)] == ["step_00000005", "step_99999999", "step_100000000"]
    assert latest_checkpoint(tmp_path).name == "step_100000000"


def test_unwritable_output_folder_fails_before_training(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(PermissionError, match="cannot write to the output folder"):
        _run(tmp_path / "file", "run", max_steps=2)


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    config = ToyConfig.from_preset("tiny", learning_rate=1e30, start_learning_rate=1e30, max_grad_norm=None)
    with pytest.raises(NonFiniteLossError) as error:
        _run(tmp_path, "huge", config=config, max_steps=6, save_every=1)
    for checkpoint in checkpoints_by_step(tmp_path / "huge" / "checkpoints"):
        weights = load_file(str(checkpoint / "model.safetensors"))
        assert all(torch.isfinite(v).all() for v in weights.values()), checkpoint
    assert "last good checkpoint" in str(error.value)


def test_arguments_are_validated_up_front(tmp_path):
    for name, value in (("max_steps", -5), ("save_every", 0), ("gradient_accumulation_steps", 0)):
        with pytest.raises(ValueError, match=f"{name} must be at least 1"):
            TrainingArguments(str(tmp_path), **{name: value})
    with pytest.raises(ValueError, match="--mixed-precision bf16"):
        TrainingArguments(str(tmp_path), fsdp=True, mixed_precision="fp16")


def test_fsdp_needs_several_processes(tmp_path):
    with pytest.raises(ValueError, match="accelerate launch --num_processes"):
        _run(tmp_path, "fsdp", max_steps=2, fsdp=True)
    assert not (tmp_path / "fsdp" / "model.safetensors").exists()


def _stream(size=40, shards=4, crash_after=None):
    """Toy signals as a `datasets` stream in shards; optionally crashing after some samples, like a killed run."""
    import datasets

    signals = ToySignals(size)
    table = datasets.Dataset.from_dict({"input_values": signals.signals.numpy(), "labels": signals.labels.numpy()})
    stream = table.to_iterable_dataset(num_shards=shards).with_format("torch")
    read = [0]

    def crash(sample):
        read[0] += 1
        if crash_after is not None and read[0] > crash_after:
            raise RuntimeError("simulated crash")
        return sample

    return stream.map(crash)  # one pipeline with or without the crash, as a resumed run has


def test_a_stream_trains_over_epochs_without_len_and_resumes_exactly(tmp_path):
    """40 samples in 4 shards, batch 16: an epoch gives 2 batches (the rest is dropped), so 6 steps span 3 epochs;
    the crash comes inside the second epoch, after the step-2 checkpoint."""
    _, metrics = _run(tmp_path, "full", dataset=_stream(), max_steps=6, save_every=2, shuffle_buffer=8)
    assert metrics["steps"] == 6
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())["history"]
    with pytest.raises(Exception, match="simulated crash"):
        _run(tmp_path, "crash", dataset=_stream(crash_after=40 + 8), max_steps=6, save_every=2, shuffle_buffer=8)
    assert latest_checkpoint(tmp_path / "crash" / "checkpoints").name == "step_00000002"
    resumed, _ = _run(tmp_path, "crash", dataset=_stream(), max_steps=6, save_every=2, shuffle_buffer=8, resume=True)
    again = json.loads((tmp_path / "crash" / "metrics.json").read_text())["history"]
    assert [r["loss"] for r in again] == [r["loss"] for r in full]
    expected = load_file(str(tmp_path / "full" / "pretraining" / "model.safetensors"))
    actual = load_file(str(tmp_path / "crash" / "pretraining" / "model.safetensors"))
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    with pytest.raises(ValueError, match="smaller than one batch"):
        _run(tmp_path, "tiny", dataset=_stream(size=8), max_steps=2)
