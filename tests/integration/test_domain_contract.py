"""The contract every registered domain keeps (as timm tests every model): tiny config → forward → backward →
save → in a fresh interpreter, the model card's own usage snippet (AutoModel + AutoProcessor) gives the same
embeddings of the same raw input as the model in this process."""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from jepa_core.domain import get_domain, installed_domains
from jepa_core.runs import write_card
from jepa_core.training import TrainingArguments, pretrain
from torch.utils.data import Dataset
from transformers import AutoProcessor

DOMAINS = sorted(installed_domains())
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}


def card_snippet(folder) -> str:
    card = (folder / "README.md").read_text()
    return re.search(r"```python\n(.*?)```", card, re.S).group(1)


def test_every_domain_is_found_without_importing_it():
    code = "import sys; from jepa_core.cli import main; main(['list']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True).stdout
    assert out.strip().endswith("False") and all(name in out for name in DOMAINS)
    assert len(DOMAINS) == 8


def test_the_training_path_imports_no_scikit_learn():
    """scikit-learn (~1 s to import) is loaded by the probes only; tjepa reads its embedded tables from it."""
    names = [name for name in DOMAINS if name != "tjepa"]
    code = (
        "import sys, jepa_core.cli, jepa_core.training; from jepa_core.domain import get_domain; "
        f"[get_domain(name) for name in {names}]; print(sorted(m for m in sys.modules if m.startswith('sklearn')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
@pytest.mark.parametrize("name", DOMAINS)
def test_domain_contract(name, tmp_path):
    domain = get_domain(name)
    config = domain.config_class.from_preset("tiny")
    train = domain.default_dataset("train", config, None)
    processor = train.processor
    assert isinstance(processor, domain.processor_class)
    if domain.adapt_config is not None:
        config = domain.adapt_config(config, train)
    torch.manual_seed(0)
    model = domain.pretraining_class(config)
    if domain.prepare_model is not None:
        domain.prepare_model(model, train)
    collator = domain.collator(config, 0)
    batch = collator.collate_samples([train[i] for i in range(4)])
    batch.update(collator.sample_masks(batch))
    output = model(**{k: v for k, v in batch.items() if k not in ("labels", "label")})
    assert torch.isfinite(output.loss)
    output.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)

    encoder = model.export_encoder().eval()
    encoder.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    write_card(domain, tmp_path, config)
    snippet = card_snippet(tmp_path)
    assert str(tmp_path) in snippet
    assert type(AutoProcessor.from_pretrained(tmp_path)) is domain.processor_class

    scope = {"np": np, "processor": processor}
    exec(textwrap.dedent(domain.example_input), scope)
    with torch.no_grad():
        expected = encoder(**scope["inputs"]).last_hidden_state
    script = snippet + f"\nimport torch\ntorch.save(embeddings.detach(), {str(tmp_path / 'out.pt')!r})\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    reloaded = torch.load(tmp_path / "out.pt", weights_only=True)
    assert reloaded.shape == expected.shape and reloaded.shape[-1] == config.hidden_size
    torch.testing.assert_close(reloaded, expected, rtol=0, atol=1e-6)


class CrashAfter(Dataset):
    """The training data, until `remaining` samples have been read: then a crash, like a killed process."""

    def __init__(self, dataset, remaining: int):
        self.dataset, self.remaining = dataset, remaining

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        self.remaining -= 1
        if self.remaining < 0:
            raise RuntimeError("simulated crash")
        return self.dataset[index]


@pytest.mark.slow
@pytest.mark.parametrize("name", DOMAINS)
def test_resume_is_exact_in_every_domain(name, tmp_path):
    """Crash inside step 4 of 6 (after the step-2 checkpoint), resume: weights and loss history match the
    uninterrupted run bit for bit (every draw of data, masks and model comes from checkpointed state)."""
    domain = get_domain(name)
    config = domain.config_class.from_preset("tiny")
    train = domain.default_dataset("train", config, None)
    if domain.adapt_config is not None:
        config = domain.adapt_config(config, train)
    batch = 8

    def run(folder, dataset, resume=False):
        torch.manual_seed(0)
        model = domain.pretraining_class(config)
        if domain.prepare_model is not None:
            domain.prepare_model(model, train)
        args = TrainingArguments.from_config(
            config, str(tmp_path / folder), max_steps=6, batch_size=batch, save_every=2, rankme_every=3,
            resume=resume, show_progress=False,
        )  # fmt: skip
        pretrain(model, dataset, domain.collator(config, 0), args)
        return model

    full = run("full", train)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run("crashed", CrashAfter(train, batch * 3 + 1))
    resumed = run("crashed", train, resume=True)
    expected, actual = full.state_dict(), resumed.state_dict()
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    history = [json.loads((tmp_path / f / "metrics.json").read_text())["history"] for f in ("full", "crashed")]
    assert history[0] == history[1]
