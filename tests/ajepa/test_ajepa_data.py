"""Embedded synthesized audio and folders of audio files (class subfolders, train/test, labels.csv)."""

import numpy as np
import pytest
import soundfile
import torch
from ajepa import AudioJepaConfig
from ajepa.data import SYNTH_CLASSES, AudioFolder, SynthesizedAudio, clip_samples, load_dataset

RATE = 16000


@pytest.fixture
def config() -> AudioJepaConfig:
    return AudioJepaConfig.from_preset("tiny")


def test_synthesized_audio_is_seeded_balanced_and_fills_the_clip(config):
    assert clip_samples(config) == 127 * 160 + 400
    first, again, other = (SynthesizedAudio(config, 16, seed) for seed in (0, 0, 1))
    assert torch.equal(first.features, again.features) and not torch.equal(first.features, other.features)
    assert first.features.shape == (16, 128, 128) and torch.bincount(first.labels).tolist() == [2] * len(SYNTH_CLASSES)
    assert torch.all(first.features[:, -1].abs().sum(-1) > 0)  # no padding: clips are exactly 128 frames
    sample = first[2]
    assert set(sample) == {"input_values", "labels"} and int(sample["labels"]) == 2


def write_tone(path, freq: float, rate: int = RATE, seconds: float = 1.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate), rate)


def test_class_subfolders_with_splits(tmp_path, config):
    for split in ("train", "test"):
        for name, freq in (("low", 200), ("high", 3000)):
            for i in range(2):
                write_tone(tmp_path / split / name / f"{i}.wav", freq + 10 * i)
    (tmp_path / "train" / "low" / "readme.txt").write_text("ignored")
    train = load_dataset(str(tmp_path), "train", config)
    assert train.class_names == ["high", "low"] and train.labels.tolist() == [0, 0, 1, 1] and len(train) == 4
    sample = train[3]
    assert sample["input_values"].shape == (128, 128) and int(sample["labels"]) == 1
    assert torch.all(sample["input_values"][98:] == 0)  # 1 s → 98 frames, zero-padded
    assert len(AudioFolder(tmp_path, "test", config)) == 4


def test_flat_folder_and_labels_csv(tmp_path, config):
    write_tone(tmp_path / "flat" / "dog" / "a.flac", 400, rate=44100)
    write_tone(tmp_path / "flat" / "cat" / "b.wav", 800, rate=8000)
    flat = AudioFolder(tmp_path / "flat", "test", config)
    assert flat.class_names == ["cat", "dog"] and flat[1]["input_values"].shape == (128, 128)
    write_tone(tmp_path / "csv" / "clips" / "x.wav", 500)
    write_tone(tmp_path / "csv" / "clips" / "y.wav", 900)
    (tmp_path / "csv" / "labels.csv").write_text("path,label,split\nclips/x.wav,rain,train\nclips/y.wav,wind,test\n")
    train, test = AudioFolder(tmp_path / "csv", "train", config), AudioFolder(tmp_path / "csv", "test", config)
    assert [f.name for f in train.files] == ["x.wav"] and [f.name for f in test.files] == ["y.wav"]


def test_folder_errors(tmp_path, config):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        AudioFolder(tmp_path / "missing", "train", config)
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(ValueError, match="no .wav/.flac/.mp3/.ogg files"):
        AudioFolder(tmp_path / "empty", "train", config)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "labels.csv").write_text("file,class\na.wav,x\n")
    with pytest.raises(ValueError, match="columns 'path' and 'label'"):
        AudioFolder(tmp_path / "bad", "train", config)
    broken = tmp_path / "broken" / "cls" / "x.wav"
    write_tone(broken, 440)
    broken.write_bytes(b"RIFF0000")
    with pytest.raises(ValueError, match="x.wav cannot be read as audio"):
        AudioFolder(tmp_path / "broken", "train", config)[0]
