"""`objective="sigreg"` (LeJEPA) in every registered domain: no EMA teacher, the loss is (1 − λ)·prediction +
λ·SIGReg with both parts reported, SIGReg reaches the encoder (also with the stop-gradient variant, and on the
context view), and a saved
model gives the same outputs; one fresh-interpreter CLI run resumes exactly."""

import json
import shutil

import pytest
import torch
from jepa_cli import jepa_ok as jepa
from jepa_core.cli import main
from jepa_core.domain import get_domain, installed_domains
from safetensors.torch import load_file
from transformers import AutoModelForPreTraining

CASES = [(name, "tiny") for name in sorted(installed_domains())] + [("ecg-jepa", "tiny_per_lead")]


class DomainCase:
    """A domain's preset with its embedded data read once, and 4 samples of it as a batch (labels dropped)."""

    def __init__(self, name: str, preset: str):
        self.domain, self.preset = get_domain(name), preset
        config = self.domain.config_class_for(preset).from_preset(preset)
        self.train = self.domain.default_dataset("train", config, None)
        collator = self.domain.collator(self.model().config, 0)
        batch = collator.collate_samples([self.train[i] for i in range(4)])
        batch.update(collator.sample_masks(batch))
        self.batch = {k: v for k, v in batch.items() if k not in ("labels", "label")}

    def model(self, **overrides):
        config = self.domain.config_class_for(self.preset).from_preset(self.preset, **overrides)
        if self.domain.adapt_config is not None:
            config = self.domain.adapt_config(config, self.train)
        torch.manual_seed(0)
        model = AutoModelForPreTraining.from_config(config)
        if self.domain.prepare_model is not None:
            self.domain.prepare_model(model, self.train)
        return model


def encoder_gradient(model) -> float:
    return sum(p.grad.abs().sum().item() for p in model.context_encoder.parameters() if p.grad is not None)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "preset"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_sigreg_objective_in_every_domain(name, preset, tmp_path):
    domain = DomainCase(name, preset)
    batch = domain.batch
    model = domain.model(objective="sigreg", sigreg_weight=0.25)
    output = model(**batch)
    parts = output.loss_parts
    assert set(parts) == {"prediction", "sigreg"} and parts["sigreg"] > 0
    assert output.loss.item() == pytest.approx(0.75 * parts["prediction"].item() + 0.25 * parts["sigreg"].item())
    output.loss.backward()
    assert encoder_gradient(model) > 0

    ema_keys = set(domain.model(objective="ema").state_dict())
    keys = set(model.state_dict())
    assert model.momentum_pairs() == [] and not any(k.startswith("target.") for k in keys)
    assert ema_keys - keys == {k for k in ema_keys if k.startswith("target.")}  # only the EMA copy is gone
    assert {k.split(".")[0] for k in keys - ema_keys} == {"sigreg_projector", "sigreg_step"}

    # SIGReg alone, with the targets' gradient stopped, still shapes the encoder
    regularised = domain.model(objective="sigreg", sigreg_weight=1.0, sigreg_stop_gradient=True, sigreg_view="full")
    full_view = regularised(**batch).loss
    full_view.backward()
    assert encoder_gradient(regularised) > 0
    # ... also on the context encoder's states (the full-input pass then runs without autograd); SAR-JEPA, whose
    # targets are fixed, has no full-input pass and regularises the context with either setting
    context_view = domain.model(objective="sigreg", sigreg_weight=1.0, sigreg_view="context")
    loss = context_view(**batch).loss
    loss.backward()
    assert encoder_gradient(context_view) > 0
    assert (loss.item() == full_view.item()) is (name == "sar-jepa"), (loss.item(), full_view.item())

    model(**batch)  # a second training step: the slices' seed is part of the saved state
    model.save_pretrained(tmp_path)
    loaded = AutoModelForPreTraining.from_pretrained(tmp_path)
    assert int(loaded.sigreg_step) == int(model.sigreg_step) == 2
    model.eval(), loaded.eval()
    with torch.no_grad():
        expected, actual = model(**batch), loaded(**batch)
    assert torch.equal(expected.loss, actual.loss) and torch.equal(expected.predictions, actual.predictions)
    assert all(torch.equal(expected.loss_parts[k], actual.loss_parts[k]) for k in parts)


@pytest.mark.slow
def test_cli_sigreg_run_logs_both_parts_and_resumes_exactly(tmp_path):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    common = ["pretrain", "tsjepa", "--preset", "tiny", "--set", "objective=sigreg", "--max-steps", "4",
              "--save-every", "2", "--batch-size", "8"]  # fmt: skip
    jepa(*common, "--threads", "1", "--output-dir", str(full))
    history = json.loads((full / "metrics.json").read_text())["history"]
    assert len(history) == 4
    for row in history:
        assert row["loss_sigreg"] > 0 and row["loss_prediction"] > 0
        # tiny TS-JEPA's λ is the core default 0.05
        assert row["loss"] == pytest.approx(0.95 * row["loss_prediction"] + 0.05 * row["loss_sigreg"], rel=1e-4)
    weights = load_file(str(full / "pretraining" / "model.safetensors"))
    assert int(weights["sigreg_step"]) == 4 and not any(k.startswith("target.") for k in weights)

    (resumed / "checkpoints").mkdir(parents=True)  # as if killed right after the step-2 checkpoint
    shutil.copytree(full / "checkpoints" / "step_00000002", resumed / "checkpoints" / "step_00000002")
    (resumed / "checkpoints" / "latest").write_text("step_00000002")
    threads = torch.get_num_threads()
    try:  # resumed in this process, whose global RNG state is another; one thread, as the first run (same sums)
        assert main([*common, "--threads", "1", "--output-dir", str(resumed), "--resume"]) == 0
    finally:
        torch.set_num_threads(threads)
    actual = load_file(str(resumed / "pretraining" / "model.safetensors"))
    assert weights.keys() == actual.keys() and all(torch.equal(weights[k], actual[k]) for k in weights)
    assert json.loads((resumed / "metrics.json").read_text())["history"] == history
