"""The contract every registered domain keeps (as timm tests every model): tiny config → forward → backward →
save → in a fresh interpreter, the model card's own usage snippet (AutoModel + AutoProcessor) gives the same
embeddings of the same raw input as the model in this process."""

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
