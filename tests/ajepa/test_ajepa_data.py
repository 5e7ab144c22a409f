"""Embedded synthesized audio, folders of audio files (class subfolders, train/test, labels.csv), `datasets` audio
columns, and AudioSet-style mAP."""

import numpy as np
import pytest
import soundfile
import torch
from ajepa import AudioJepaConfig, AudioJepaProcessor
from ajepa.data import (
    SYNTH_CLASSES,
    AudioColumnDataset,
    AudioFolder,
    SynthesizedAudio,
    clip_samples,
    load_dataset,
    mean_average_precision,
)
from jepa_core.overrides import ConfigFieldError

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
    whole = AudioFolder(tmp_path, "all", config)
    assert len(whole) == 8 and whole.ids[0] == "train/high/0.wav" and whole.ids[-1] == "test/low/1.wav"


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
    assert AudioFolder(tmp_path / "csv", "all", config).ids == ["clips/x.wav", "clips/y.wav"]


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
        AudioFolder(tmp_path / "broken", "train", config)  # the pre-check reads every file up front


def test_datasets_audio_column_and_save_to_disk_folder(tmp_path, config):
    from datasets import Audio, ClassLabel, Dataset, DatasetDict

    rows = []
    for i, freq in enumerate((300, 2500, 320, 2600)):
        write_tone(tmp_path / f"{i}.wav", freq, rate=22050)
        rows.append({"bytes": (tmp_path / f"{i}.wav").read_bytes(), "path": f"{i}.wav"})
    table = Dataset.from_dict({"audio": rows, "label": [0, 1, 0, 1]})
    table = table.cast_column("audio", Audio()).cast_column("label", ClassLabel(names=["low", "high"]))
    DatasetDict(train=table, test=table.select([2, 3])).save_to_disk(tmp_path / "saved")
    expected = AudioJepaProcessor.from_config(config).load(tmp_path / "0.wav")
    (tmp_path / "0.wav").unlink()  # the saved folder holds the bytes, not links to the files
    saved = str(tmp_path / "saved")
    train, test = load_dataset(saved, "train", config), load_dataset(saved, "test", config)
    assert isinstance(train, AudioColumnDataset) and train.class_names == ["low", "high"] and len(test) == 2
    assert train.processor.fbank_mean != config.fbank_mean  # fitted on the train split (fit_normalization)
    fixed = load_dataset(saved, "train", AudioJepaConfig.from_preset("tiny", fit_normalization=False))
    assert torch.equal(fixed[0]["input_values"], expected) and int(train[1]["labels"]) == 1
    arrays = Dataset.from_dict({"sound": [{"array": np.zeros(100), "sampling_rate": RATE}], "tag": ["rain"]})
    with pytest.raises(ValueError, match="no column 'audio'"):
        AudioColumnDataset(arrays, config)
    with pytest.raises(ValueError, match="row 0: silent"):  # the pre-check
        AudioColumnDataset(arrays, config, audio_column="sound", label_column="tag")
    with pytest.raises(ValueError, match="split must be one of"):
        load_dataset(str(tmp_path / "saved"), "validation", config)
    whole = load_dataset(saved, "all", config, train.processor)  # every split, for `jepa embed`
    assert len(whole) == 6 and whole.processor is train.processor and whole.ids[0] == "0.wav"
    with pytest.raises(ConfigFieldError, match="the audio is silent") as error:
        train.processor({"array": np.zeros(100), "sampling_rate": RATE})
    assert "--set silence_threshold=0" in error.value.cli_message()


def test_mean_average_precision_audioset_style():
    targets = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    assert mean_average_precision(targets * 2.0 - 1, targets) == 1.0  # perfect ranking; class 2 has no positive
    scores = np.array([[0.9, 0.1, 0.5], [0.8, 0.7, 0.5], [0.1, 0.6, 0.5], [0.2, 0.2, 0.5]])
    # class 0: positives ranked 1st and 4th → AP (1 + 2/4) / 2; class 1: positives ranked 1st and 2nd → 1
    assert mean_average_precision(scores, targets) == pytest.approx(((1 + 0.5) / 2 + 1) / 2)
    with pytest.raises(ValueError, match="no class has a positive"):
        mean_average_precision(scores, np.zeros_like(targets))


def test_datasets_column_errors_name_the_row(config):
    from datasets import Dataset

    garbage = Dataset.from_dict({"audio": [{"bytes": b"not audio", "path": None}, {"bytes": None, "path": None}]})
    with pytest.raises(ValueError, match="2 of 2 input files") as error:  # both listed at once
        AudioColumnDataset(garbage.add_column("label", ["a", "b"]), config)
    assert "row 0: unreadable (ValueError: the audio data cannot be read as audio" in str(error.value)
    assert "row 1: unreadable (ValueError: the audio column holds dict" in str(error.value)
