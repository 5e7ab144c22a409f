"""Embedded data, GeoTIFF folders, the domain plugin, a short pretraining run and the linear probe."""

import numpy as np
import pytest
import torch
from jepa_core.domain import get_domain
from jepa_core.training import TrainingArguments, pretrain
from sar_jepa import SarJepaConfig, SarJepaForPreTraining, SarJepaMaskCollator, SarJepaModel, SarJepaProcessor, data
from sar_jepa.processor_sar_jepa import write_geotiff
from transformers import AutoModel


@pytest.fixture(scope="module")
def tiny():
    return SarJepaConfig.from_preset("tiny")


def test_embedded_data_is_speckled_texture_chips(tiny):
    train, test = data.default_dataset("train", tiny, augment=False), data.default_dataset("test", tiny)
    assert (len(train), len(test)) == (4 * 192, 4 * 64)
    assert torch.bincount(train.labels).tolist() == [192] * 4 and train.class_names == data.TEXTURES
    x = train.pixel_values
    assert x.shape[1:] == (1, 32, 32) and x.min() >= 0 and x.max() <= 1
    assert (x == 1).float().mean() == pytest.approx(0.01, abs=0.01)  # clip at the fitted 99th percentile
    assert data.default_processor(tiny).clip_value > 0
    augmented = data.default_dataset("train", tiny)[0]["pixel_values"]
    assert augmented.shape == (1, 32, 32) and not torch.equal(augmented, x[0])


def test_speckle_has_the_gamma_statistics():
    rng = np.random.default_rng(0)
    flat = data.speckled_scene(np.full((256, 256), 0.5), 4, rng)
    assert flat.mean() == pytest.approx(1.0, rel=0.01)  # unit-mean reflectivity
    assert flat.var() / flat.mean() ** 2 == pytest.approx(1 / 4, rel=0.05)  # Gamma(L, 1/L): variance 1/L


def test_folder_of_geotiffs_per_class(tmp_path, tiny):
    rng = np.random.default_rng(0)
    for name, scale in (("bmp2", 1.0), ("t72", 9.0)):
        for split in ("train", "test"):
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(4):
                chip = rng.gamma(1.0, scale, (40, 40)).astype(np.float32)
                write_geotiff(tmp_path / split / name / f"{i}.tif", chip)
    processor = SarJepaProcessor(image_size=32, clip_value=20.0)
    processor.save_pretrained(tmp_path)
    train = data.load_dataset(tmp_path, "train", tiny)
    assert train.class_names == ("bmp2", "t72") and train.labels.tolist() == [0] * 4 + [1] * 4
    assert train.pixel_values.shape == (8, 1, 32, 32)
    assert train.pixel_values[4:].mean() > 2 * train.pixel_values[:4].mean()  # the saved clip value was used
    metrics = data.evaluate(SarJepaModel(tiny), tiny, str(tmp_path), seeds=1)
    assert list(metrics)[0] == "linear_probe_accuracy" and 0 <= metrics["few_shot_10_accuracy"] <= 1
    with pytest.raises(ValueError, match="no labels to probe"):
        data.evaluate(SarJepaModel(tiny), tiny, str(tmp_path / "train" / "bmp2"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_dataset(tmp_path / "missing", "train", tiny)


def test_domain_plugin(tiny):
    domain = get_domain("sar-jepa")
    assert domain.config_class is SarJepaConfig and domain.pretraining_class is SarJepaForPreTraining
    assert {"tiny", "vit_base_16"} <= set(domain.presets)
    assert isinstance(domain.collator(tiny, 0), SarJepaMaskCollator)
    with pytest.raises(ValueError, match="single-channel"):
        domain.default_dataset("train", SarJepaConfig.from_preset("tiny", num_channels=2))


def test_pretraining_lowers_the_loss_and_reloads(tmp_path):
    config = SarJepaConfig.from_preset("tiny", max_steps=60)
    torch.manual_seed(0)
    model = SarJepaForPreTraining(config)
    args = TrainingArguments.from_config(config, str(tmp_path / "run"), show_progress=False, save_every=1000)
    metrics = pretrain(model, data.default_dataset("train", config), SarJepaMaskCollator(config, 0), args)
    assert metrics["final_loss"] < 0.8 * metrics["initial_loss"]
    encoder = AutoModel.from_pretrained(tmp_path / "run").eval()
    pixels = data.default_dataset("test", config).pixel_values[:4]
    assert torch.equal(encoder(pixels).last_hidden_state, model.encoder.eval()(pixels).last_hidden_state)


@pytest.mark.xfail(
    strict=True,
    reason="known gap: 300 tiny steps do not yet beat a random-init encoder on the embedded textures "
    "(measured linear probe 0.76 vs 0.81, see the package README)",
)
def test_pretrained_beats_random_init_on_the_probe(tmp_path):
    config = SarJepaConfig.from_preset("tiny", max_steps=120)
    torch.manual_seed(0)
    model = SarJepaForPreTraining(config)
    args = TrainingArguments.from_config(config, str(tmp_path / "run"), show_progress=False, save_every=1000)
    pretrain(model, data.default_dataset("train", config), SarJepaMaskCollator(config, 0), args)
    pretrained = data.evaluate(model.encoder, config, seeds=1)
    torch.manual_seed(0)
    random_init = data.evaluate(SarJepaModel(config), config, seeds=1)
    assert pretrained["linear_probe_accuracy"] > random_init["linear_probe_accuracy"] + 0.05
