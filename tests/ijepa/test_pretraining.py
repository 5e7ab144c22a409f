"""A short pretraining run through jepa_core.training lowers the loss; the run folder loads with AutoModel."""

import json

import torch
from ijepa import ImageJepaModel
from ijepa.domain import DOMAIN
from jepa_core.domain import available_domains
from jepa_core.training import TrainingArguments, pretrain
from torch.utils.data import Subset
from transformers import AutoModel


def test_domain_is_discoverable():
    domain = available_domains()["ijepa"]
    assert domain is DOMAIN and domain.config_class.model_type == "jepa_ijepa" and "tiny" in domain.presets


def test_short_pretraining_lowers_the_loss_and_saves_the_target_encoder(tmp_path):
    config = DOMAIN.config_class.from_preset("tiny", train_batch_size=32, max_steps=40, objective="ema")
    torch.manual_seed(0)
    model = DOMAIN.pretraining_class(config)
    data = Subset(DOMAIN.default_dataset("train", config), range(512))
    args = TrainingArguments.from_config(config, str(tmp_path), show_progress=False, rankme_every=20)
    metrics = pretrain(model, data, DOMAIN.collator(config, 0), args)
    assert metrics["steps"] == 40
    assert metrics["final_loss"] < 0.7 * metrics["initial_loss"]
    history = json.loads((tmp_path / "metrics.json").read_text())["history"]
    assert history[-1]["momentum"] > history[0]["momentum"] >= 0.996
    encoder = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(encoder, ImageJepaModel)
    pixels = torch.stack([data[i]["pixel_values"] for i in range(4)])
    with torch.no_grad():
        expected = model.export_encoder().eval()(pixels).last_hidden_state
        assert torch.equal(encoder(pixels).last_hidden_state, expected)
        # the EMA target has moved away from its initial copy but stays distinct from the context encoder
        online = model.context_encoder.eval()(pixels).last_hidden_state
        assert not torch.allclose(online, expected)
