import logging

import pytest
import torch
from huggingface_hub import ModelCard
from huggingface_hub.dataclasses import strict
from jepa_core.hub import model_card, publish, write_model_card
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput

TOKEN = "hf_dummySecretToken0123456789"
REPO_ID = "org/tiny-jepa"


@strict
class TinyConfig(PreTrainedConfig):
    model_type = "jepa_test_tiny"
    hidden_size: int = 8
    num_features: int = 3
    mask_ratio: float = 0.6


class TinyModel(PreTrainedModel):
    config: TinyConfig
    main_input_name = "input_values"

    def __init__(self, config: TinyConfig):
        super().__init__(config)
        self.proj = nn.Linear(config.num_features, config.hidden_size)
        self.post_init()

    def forward(self, input_values, **kwargs):
        return BaseModelOutput(last_hidden_state=self.proj(input_values))


AutoConfig.register("jepa_test_tiny", TinyConfig, exist_ok=True)
AutoModel.register(TinyConfig, TinyModel, exist_ok=True)


@pytest.fixture
def saved_model(tmp_path):
    torch.manual_seed(0)
    model = TinyModel(TinyConfig()).eval()
    folder = tmp_path / "ckpt"
    model.save_pretrained(folder)
    return model, folder


def _card(config, **kw):
    return model_card(
        config,
        {"linear_probe_accuracy": 0.91234, "rankme": 7.5},
        library_name="jepa-test",
        domain="Time Series",
        paper_url="https://arxiv.org/abs/2301.08243",
        datasets=["org/tiny-data"],
        repo_id=REPO_ID,
        training={"epochs": 3, "lr": 1e-3},
        **kw,
    )


def test_model_card_metadata_and_body(saved_model):
    _, folder = saved_model
    text = _card(AutoConfig.from_pretrained(folder), description="A tiny test model.")
    card = ModelCard(text)
    data = card.data.to_dict()
    assert data["library_name"] == "jepa-test"
    assert data["tags"] == ["jepa", "self-supervised", "time-series", "feature-extraction"]
    assert data["pipeline_tag"] == "feature-extraction"
    assert data["license"] == "apache-2.0"
    assert data["datasets"] == ["org/tiny-data"]
    assert "metrics" not in data  # training statistics are not evaluation results; model-index holds those
    body = card.text
    assert "[https://arxiv.org/abs/2301.08243](https://arxiv.org/abs/2301.08243)" in body
    assert "| linear_probe_accuracy | 0.9123 |" in body and "| rankme | 7.5 |" in body
    assert "\nimport jepa_test  #" in body and f'AutoModel.from_pretrained("{REPO_ID}")' in body
    assert "| mask_ratio | 0.6 |" in body and "| hidden_size | 8 |" in body
    assert "| epochs | 3 |" in body and "`jepa_test_tiny` (TinyModel)" in body
    assert "A tiny test model." in body and "id2label" not in body


def test_model_card_minimal():
    text = model_card(TinyConfig(), library_name="jepa-core", domain="vision", paper_url=None, import_name="jepa_core")
    card = ModelCard(text)
    assert card.data.eval_results is None and card.data.datasets is None
    assert "No evaluation results were recorded." in card.text and "Paper:" not in card.text
    assert 'AutoModel.from_pretrained(".")' in card.text
    assert "an EMA copy" in card.text and "SIGReg" not in card.text


def test_model_card_says_how_a_sigreg_model_was_trained():
    from toy_domain import ToyConfig

    text = model_card(ToyConfig(objective="sigreg"), library_name="jepa-core", domain="toy", paper_url=None)
    assert "no EMA copy" in text and "SIGReg (LeJEPA)" in text and "an EMA copy)" not in text


def test_model_card_model_index_from_evaluation():
    evaluation = {"data": "noisy sines", "metrics": {"linear_probe_accuracy": 0.75, "knn_accuracy": 0.5}}
    text = model_card(
        TinyConfig(), library_name="jepa-core", domain="vision", paper_url=None, evaluation=evaluation, repo_id="a/b"
    )
    results = ModelCard(text).data.eval_results
    assert [(r.metric_type, r.metric_value, r.dataset_name) for r in results] == [
        ("linear_probe_accuracy", 0.75, "noisy sines"),
        ("knn_accuracy", 0.5, "noisy sines"),
    ]
    assert "model-index:" in text and "name: b" in text


def test_publish_roundtrip_without_token_leak(fake_hub, saved_model, caplog, capsys):
    root, seen = fake_hub
    model, folder = saved_model
    write_model_card(folder, _card(model.config))
    caplog.set_level(logging.DEBUG)

    url = publish(folder, REPO_ID, token=TOKEN, private=True, commit_message="first")

    assert url == "https://huggingface.co/org/tiny-jepa"
    assert seen["tokens"] == [TOKEN, TOKEN]
    assert seen["calls"][0] == (
        "create_repo",
        REPO_ID,
        {"private": True, "exist_ok": True, "repo_type": "model"},
    )
    assert seen["calls"][1][2]["commit_message"] == "first" and "token" not in seen["calls"][1][2]
    uploaded = root / REPO_ID
    assert {p.name for p in uploaded.iterdir()} == {"config.json", "model.safetensors", "README.md"}
    for path in uploaded.rglob("*"):
        assert TOKEN.encode() not in path.read_bytes()
    out = capsys.readouterr()
    assert TOKEN not in caplog.text and TOKEN not in out.out and TOKEN not in out.err

    loaded = AutoModel.from_pretrained(uploaded).eval()
    assert type(loaded) is TinyModel
    x = torch.randn(2, 4, 3)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).last_hidden_state, model(x).last_hidden_state, rtol=0, atol=0)
    assert ModelCard.load(uploaded / "README.md").data.library_name == "jepa-test"


def test_publish_revision_creates_branch(fake_hub, saved_model):
    root, seen = fake_hub
    model, folder = saved_model
    write_model_card(folder, _card(model.config))
    publish(folder, REPO_ID, revision="v1")
    assert ("create_branch", REPO_ID, "v1") in seen["calls"]
    assert seen["calls"][-1][2]["revision"] == "v1"


def test_publish_validates_folder(fake_hub, saved_model, tmp_path):
    root, seen = fake_hub
    _, folder = saved_model
    with pytest.raises(FileNotFoundError, match="save_pretrained") as err:
        publish(tmp_path / "nowhere", "org/x", token=TOKEN)
    assert TOKEN not in str(err.value)
    with pytest.raises(FileNotFoundError, match="README.md"):
        publish(folder, "org/x", token=TOKEN)
    write_model_card(folder, "---\nlicense: mit\n---\n")
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors.*jepa pretrain") as err:
        publish(folder, "org/x", token=TOKEN)
    assert TOKEN not in str(err.value)
    assert seen["calls"] == []  # nothing was uploaded
