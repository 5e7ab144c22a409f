"""`jepa pretrain ajepa --data SHARDS`: Parquet shards of 16 kHz audio streamed in a fresh interpreter with fbank
statistics fitted on the first records, tar shards (flac + cls) cut into random crops, bad clips named, and the same
shards read map-style for evaluation."""

import io
import json
import math
import tarfile

import numpy as np
import pytest
import soundfile
import torch
from ajepa import AudioJepaConfig, AudioJepaProcessor
from ajepa.data import AudioColumnDataset, load_dataset
from ajepa.domain import DOMAIN
from jepa_cli import jepa_ok
from jepa_core.streams import stream_dataset

RATE = 16000
CONFIG = AudioJepaConfig.from_preset("tiny")  # target_length 128 frames = 20 720 samples


def clip(seed: int, seconds: float, peak: float = 0.3) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (peak * np.sin(2 * np.pi * (250 + 40 * seed) * t)).astype(np.float32)


def flac(wave: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, wave, RATE, format="FLAC")
    return buffer.getvalue()


def decoded(wave: np.ndarray) -> np.ndarray:
    """The clip as read back from FLAC (16-bit)."""
    return soundfile.read(io.BytesIO(flac(wave)), dtype="float32")[0]


def write_parquet_shards(root) -> list[np.ndarray]:
    """3 Parquet shards of 4 clips (0.9–2.1 s) with an `audio` column as `datasets` writes it; the clips as read
    back."""
    from datasets import Audio, Dataset

    root.mkdir(parents=True)
    clips = []
    for shard in range(3):
        waves = [clip(4 * shard + i, 0.9 + 0.4 * i) for i in range(4)]
        rows = [{"bytes": flac(w), "path": f"s{shard}c{i}.flac"} for i, w in enumerate(waves)]
        table = Dataset.from_dict({"audio": rows, "label": [i % 2 for i in range(4)]}).cast_column("audio", Audio())
        table.to_parquet(str(root / f"train-{shard:05d}-of-00003.parquet"))
        clips += [decoded(w) for w in waves]
    return clips


@pytest.mark.slow
def test_parquet_shards_stream_with_statistics_fitted_on_the_first_records(tmp_path):
    clips = write_parquet_shards(tmp_path / "shards")
    run = tmp_path / "run"
    jepa_ok(
        "pretrain", "ajepa", "--data", str(tmp_path / "shards"), "--preset", "tiny", "--max-steps", "3",
        "--batch-size", "4", "--save-every", "2", "--threads", "1", "--output-dir", str(run),
    )  # fmt: skip
    reference = AudioJepaProcessor.from_config(CONFIG)
    values = torch.cat([reference.fbank(torch.from_numpy(w)).double().flatten() for w in clips])  # 12 < 256 records
    saved = json.loads((run / "preprocessor_config.json").read_text())
    assert saved["fbank_mean"] == pytest.approx(values.mean().item(), rel=1e-9)
    assert saved["fbank_std"] == pytest.approx(values.std(correction=0).item(), rel=1e-9)
    config = json.loads((run / "config.json").read_text())
    assert (config["fbank_mean"], config["fbank_std"]) == (saved["fbank_mean"], saved["fbank_std"])
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert len(history) == 3 and all(math.isfinite(row["loss"]) and row["loss"] > 0 for row in history)


def write_tar(path, records: dict[str, dict[str, bytes]]) -> None:
    with tarfile.open(path, "w") as archive:
        for key, files in records.items():
            for extension, data in files.items():
                info = tarfile.TarInfo(f"{key}.{extension}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))


def test_tar_shards_give_random_crops_and_name_bad_clips(tmp_path):
    t = np.arange(3 * RATE) / RATE
    long = decoded((0.3 * np.sin(2 * np.pi * (200 * t + 300 * t**2))).astype(np.float32))  # a chirp: crops differ
    short = decoded(clip(1, 1.0))  # 298 frames → 3 crops; 98 frames → 1, zero-padded
    write_tar(tmp_path / "000.tar", {"a": {"flac": flac(long), "cls": b"0"}, "b": {"flac": flac(short), "cls": b"1"}})
    write_tar(tmp_path / "001.tar", {"c": {"flac": flac(np.zeros(RATE, np.float32)), "cls": b"0"}})  # silent
    fixed = AudioJepaConfig.from_preset("tiny", fit_normalization=False, on_bad_file="skip")
    stream = stream_dataset(DOMAIN, fixed, tmp_path)
    torch.manual_seed(0)
    samples = [sample["input_values"] for sample in stream]
    assert len(samples) == 4 and all(s.shape == (128, 128) for s in samples)
    processor = stream.processor
    whole = processor.normalize(processor.fbank(torch.from_numpy(long)))
    full = (processor.fbank(torch.from_numpy(long)) - processor.fbank_mean) / (2 * processor.fbank_std)
    starts = [next(s for s in range(298 - 127) if torch.equal(full[s : s + 128], crop)) for crop in samples[:3]]
    assert len(set(starts)) == 3 and not torch.equal(samples[0], whole)  # three different random crops
    padded = processor.normalize(processor.fbank(torch.from_numpy(short)))
    assert torch.equal(samples[3], padded) and samples[3][98:].abs().sum() == 0
    strict = AudioJepaConfig.from_preset("tiny", fit_normalization=False)
    with pytest.raises(ValueError, match=r"001.tar/c: silent .*--set silence_threshold=0"):
        list(stream_dataset(DOMAIN, strict, tmp_path))


def test_parquet_shards_read_map_style_for_evaluation(tmp_path):
    clips = write_parquet_shards(tmp_path / "shards")
    test = load_dataset(str(tmp_path / "shards"), "test", CONFIG, AudioJepaProcessor.from_config(CONFIG))
    assert isinstance(test, AudioColumnDataset)  # no split folders: every record, clips of 88–208 frames
    assert len(test) == 18 and test.clip_of == [c for c in range(12) for _ in range(1 + (c % 4 > 1))]
    assert test.ids[:4] == ["s0c0.flac", "s0c1.flac", "s0c2.flac@0s", "s0c2.flac@0.4s"]
    assert test.labels.tolist() == [0, 1, 0, 0, 1, 1] * 3
    assert test.class_names == ["0", "1"]
    expected = AudioJepaProcessor.from_config(CONFIG).features(clips[1], RATE)
    assert torch.allclose(test[1]["input_values"], expected, atol=1e-6)
