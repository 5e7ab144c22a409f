"""Pretraining on the embedded table through jepa_core.training, the domain plugin, and the `--data` loaders."""

import logging

import datasets
import pytest
import torch
from jepa_core.domain import get_domain
from jepa_core.evaluation import evaluate_encoder
from jepa_core.overrides import ConfigFieldError
from jepa_core.processing import load_processor
from jepa_core.training import TrainingArguments, pretrain
from tjepa import TabularJepaConfig, TabularJepaForPreTraining, TabularJepaModel, TabularJepaProcessor
from tjepa.data import default_dataset, load_dataset, sklearn_table, split_table
from tjepa.domain import DOMAIN
from transformers import AutoModel


def evaluate(encoder, data=None, processor=None) -> dict:
    return evaluate_encoder(DOMAIN, encoder, processor, data).metrics


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: these models are tiny and extra threads only contend on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_thread):
    logging.getLogger("jepa_core").setLevel(logging.ERROR)
    folder = tmp_path_factory.mktemp("tjepa_run")
    config = TabularJepaConfig.from_preset("tiny", max_steps=150)
    torch.manual_seed(0)
    model = TabularJepaForPreTraining(config)
    dataset = DOMAIN.default_dataset("train", config)
    metrics = pretrain(
        model,
        dataset,
        DOMAIN.collator(config, 0),
        TrainingArguments.from_config(config, str(folder), show_progress=False),
    )
    dataset.processor.save_pretrained(folder)
    return folder, config, metrics


def test_pretraining_lowers_the_loss_and_saves_a_loadable_encoder(run):
    folder, config, metrics = run
    assert metrics["steps"] == 150
    assert metrics["final_loss"] < 0.5 * metrics["initial_loss"]
    encoder = AutoModel.from_pretrained(folder)
    assert isinstance(encoder, TabularJepaModel) and encoder.config.num_register_tokens == 1
    assert (folder / "preprocessor_config.json").is_file() and (folder / "model.safetensors").is_file()


def test_probe_on_pretrained_embeddings(run):
    """The pretrained encoder keeps the table's information (random init is already at the raw-feature level here)."""
    folder, config, _ = run
    encoder = AutoModel.from_pretrained(folder)
    processor = load_processor(folder, TabularJepaProcessor)
    pretrained = evaluate(encoder, processor=processor)
    assert next(iter(pretrained)) == "linear_probe_accuracy" and "knn_accuracy" in pretrained
    torch.manual_seed(0)
    random_init = evaluate(TabularJepaModel(config))
    majority = 1 - default_dataset("test").tensors["labels"].float().mean().item()
    assert pretrained["linear_probe_accuracy"] >= 0.9 > majority + 0.2
    assert pretrained["linear_probe_accuracy"] >= random_init["linear_probe_accuracy"] - 0.03


def test_loaded_model_uses_its_saved_processor(run, tmp_path):
    folder, config, _ = run
    train, test = split_table(sklearn_table("breast_cancer"))
    saved = TabularJepaProcessor.from_pretrained(folder)
    fresh = TabularJepaProcessor(verbose=False).fit(train)
    assert torch.equal(saved.transform(test)["numerical_features"], fresh.transform(test)["numerical_features"])
    encoder = AutoModel.from_pretrained(folder)
    rows = saved.transform(test.head(4))
    expected = encoder.embed(rows["numerical_features"], rows["categorical_features"])
    assert expected.shape == (4, 31 * 32)
    assert torch.equal(
        AutoModel.from_pretrained(folder).embed(rows["numerical_features"], rows["categorical_features"]), expected
    )


def test_domain_plugin_is_installed():
    domain = get_domain("tjepa")
    assert domain.config_class is TabularJepaConfig and domain.pretraining_class is TabularJepaForPreTraining
    config = TabularJepaConfig.from_preset("tiny")
    train = domain.default_dataset("train", config)
    assert len(train) == 455 and len(domain.default_dataset("test", config, train.processor)) == 114
    everything = domain.default_dataset("all", config, train.processor)
    assert len(everything) == 569 and everything.ids == [str(i) for i in range(569)]
    assert set(train.ids) < set(everything.ids) and train.class_names == ["0", "1"]
    assert train.labels.dtype == torch.int64 and torch.equal(train.labels, train.tensors["labels"])
    assert domain.processor_class is TabularJepaProcessor and domain.headline_metric == "linear_probe_accuracy"
    batch = domain.collator(config, 0)([domain.default_dataset("train", config)[i] for i in range(4)])
    assert batch["numerical_features"].shape == (4, 30) and batch["target_indices"].shape[:2] == (4, 4)
    assert {"tiny", "small", "paper"} <= set(domain.presets)


def test_data_loaders_for_user_files(tmp_path):
    frame = sklearn_table("wine").sample(frac=1.0, random_state=0)
    config = TabularJepaConfig(num_numerical_features=13)
    frame.to_csv(tmp_path / "wine.csv", index=False)
    train, test = (
        load_dataset(str(tmp_path / "wine.csv"), "train", config),
        load_dataset(str(tmp_path / "wine.csv"), "test", config),
    )
    assert (len(train), len(test)) == (142, 36) and train.processor.task == "classification"
    folder = tmp_path / "splits"
    folder.mkdir()
    frame.iloc[:100].to_parquet(folder / "train.parquet")
    frame.iloc[100:].to_csv(folder / "test.csv", index=False)
    assert len(load_dataset(str(folder), "test", config)) == 78
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_pandas(frame.iloc[:150]),
            "test": datasets.Dataset.from_pandas(frame.iloc[150:]),
        }
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    assert len(load_dataset(str(tmp_path / "dd"), "test", config)) == 28
    assert len(load_dataset(str(folder), "all", config)) == 178
    with pytest.raises(ConfigFieldError, match="num_numerical_features=30 but the table gives 13"):
        load_dataset(str(tmp_path / "wine.csv"), "test", TabularJepaConfig(), train.processor)
    # the CLI sizes the model for the table: defaults are filled, a wrong value set by hand names the fix
    assert DOMAIN.adapt_config(TabularJepaConfig(), train).num_numerical_features == 13
    with pytest.raises(ConfigFieldError) as error:
        DOMAIN.adapt_config(TabularJepaConfig(num_numerical_features=12), train)
    assert "--set num_numerical_features=13" in error.value.cli_message()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(str(tmp_path / "nope.csv"), "train", config)
    with pytest.raises(ValueError, match="split must be one of"):
        load_dataset(str(tmp_path / "wine.csv"), "validation", config)
    encoder = TabularJepaModel(TabularJepaConfig.from_preset("tiny", num_numerical_features=13))
    scores = evaluate(encoder, str(tmp_path / "wine.csv"))
    assert scores["linear_probe_accuracy"] > 0.8
