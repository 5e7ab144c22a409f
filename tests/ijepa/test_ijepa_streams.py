"""`jepa pretrain ijepa --data SHARDS` streams WebDataset tar shards in a fresh interpreter, resumes a killed run
bit-identically, and the map-style loaders read shards and saved data sets lazily."""

import io
import json
import math
import tarfile

import numpy as np
import pytest
import torch
from ijepa import ImageJepaConfig
from ijepa.data import ArrowImages, load_dataset
from ijepa.domain import DOMAIN
from jepa_cli import jepa, jepa_ok, python
from jepa_core.streams import stream_dataset
from PIL import Image
from safetensors.torch import load_file

CONFIG = ImageJepaConfig.from_preset("tiny")
SHARDS, PER_SHARD = 4, 6


def image_bytes(seed: int, fmt: str = "PNG") -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (20, 24, 3), dtype=np.uint8)  # 20×24 px, not square
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


def write_shards(root, image_of=image_bytes) -> None:
    """4 tar shards of 6 records each: `s{shard}i{i}.png` + `.cls` (label i % 3)."""
    root.mkdir(parents=True, exist_ok=True)
    for shard in range(SHARDS):
        with tarfile.open(root / f"{shard:03d}.tar", "w") as archive:
            for i in range(PER_SHARD):
                key = f"s{shard}i{i}"
                for name, data in ((f"{key}.png", image_of(PER_SHARD * shard + i)), (f"{key}.cls", b"%d" % (i % 3))):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))


def train_args(data, out, *extra: str) -> list[str]:
    """8 steps of batch 4 over 24 records: 6 steps per epoch, so the run crosses an epoch."""
    return ["pretrain", "ijepa", "--data", str(data), "--preset", "tiny", "--max-steps", "8", "--batch-size", "4",
            "--save-every", "3", "--threads", "1", "--output-dir", str(out), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("ijepa_streams")
    write_shards(root / "shards")
    jepa_ok(*train_args(root / "shards", root / "full"))
    return root


@pytest.mark.slow
def test_tar_shards_stream_into_a_saved_run(shards):
    run = shards / "full"
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert [row["step"] for row in history] == list(range(1, 9))
    assert all(math.isfinite(row["loss"]) and row["loss"] > 0 for row in history)
    processor = json.loads((run / "preprocessor_config.json").read_text())
    assert processor["image_processor_type"] == "ImageJepaImageProcessor" and processor["image_size"] == 32
    assert (run / "model.safetensors").is_file() and (run / "pretraining" / "model.safetensors").is_file()
    assert "`shards`" in (run / "README.md").read_text()


@pytest.mark.slow
def test_a_killed_streaming_run_resumes_bit_identically(shards):
    """Killed (os._exit, no clean-up) inside step 7, in the second epoch, after the step-6 checkpoint."""
    crashed = shards / "crashed"
    kill = f"""
import os, sys
import jepa_core.training.trainer as trainer
calls, update = [0], trainer.ema_update
def killed(pairs, momentum):
    calls[0] += 1
    if calls[0] == 7:
        os._exit(137)
    update(pairs, momentum)
trainer.ema_update = killed
from jepa_core.cli import main
sys.exit(main({train_args(shards / "shards", crashed)!r}))
"""
    assert python("-c", kill).returncode == 137
    assert (crashed / "checkpoints" / "latest").read_text().strip().endswith("6")
    jepa_ok(*train_args(shards / "shards", crashed, "--resume"))
    full = json.loads((shards / "full" / "metrics.json").read_text())["history"]
    resumed = json.loads((crashed / "metrics.json").read_text())["history"]
    assert [row["loss"] for row in resumed] == [row["loss"] for row in full]
    expected = load_file(shards / "full" / "pretraining" / "model.safetensors")
    actual = load_file(crashed / "pretraining" / "model.safetensors")
    assert expected.keys() == actual.keys() and all(torch.equal(expected[k], actual[k]) for k in expected)


@pytest.mark.slow
def test_a_truncated_shard_is_one_clear_error(tmp_path):
    write_shards(tmp_path / "shards")
    whole = (tmp_path / "shards" / "002.tar").read_bytes()
    (tmp_path / "shards" / "002.tar").write_bytes(whole[: len(whole) // 2])
    result = jepa(*train_args(tmp_path / "shards", tmp_path / "run"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "1 of 4 input files cannot be used" in result.stderr and "002.tar: unreadable" in result.stderr
    assert "--set on_bad_file=skip" in result.stderr and not (tmp_path / "run" / "model.safetensors").exists()


def test_a_bad_image_in_a_shard_names_the_record(tmp_path):
    write_shards(tmp_path, lambda seed: b"not a png" if seed == 8 else image_bytes(seed, "JPEG"))
    stream = stream_dataset(DOMAIN, CONFIG, tmp_path)
    with pytest.raises(ValueError, match="001.tar/s1i2: not an image that Pillow can read"):
        list(stream)
    kept = list(stream_dataset(DOMAIN, ImageJepaConfig.from_preset("tiny", on_bad_file="skip"), tmp_path))
    assert len(kept) == SHARDS * PER_SHARD - 1 and kept[0]["pixel_values"].shape == (3, 32, 32)


def test_shards_and_saved_data_sets_are_read_lazily_map_style(tmp_path):
    write_shards(tmp_path / "shards")
    test = load_dataset(str(tmp_path / "shards"), "test", CONFIG)
    assert isinstance(test.images, ArrowImages) and len(test) == 4  # every 5th record of 24
    assert test.ids == ["000.tar/s0i4", "001.tar/s1i3", "002.tar/s2i2", "003.tar/s3i1"]
    assert test.labels.tolist() == [1, 0, 2, 1] and not test.train
    expected = test.processor.transform(Image.open(io.BytesIO(image_bytes(4))))
    assert torch.allclose(test[0]["pixel_values"], expected)
    from datasets import Dataset
    from datasets import Image as ImageFeature

    images = [Image.open(io.BytesIO(image_bytes(i))) for i in range(10)]
    saved = Dataset.from_dict({"image": images, "label": list(range(10))}).cast_column("image", ImageFeature())
    saved.save_to_disk(str(tmp_path / "saved"))
    train = load_dataset(str(tmp_path / "saved"), "train", CONFIG, augment=False)
    assert isinstance(train.images, ArrowImages) and train.ids[:4] == ["0", "1", "2", "3"] and len(train) == 8
    assert torch.allclose(train[1]["pixel_values"], test.processor.transform(images[1]))
