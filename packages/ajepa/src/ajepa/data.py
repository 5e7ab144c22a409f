"""Data: synthesized labelled audio (the embedded default), folders of audio files, `datasets` audio columns,
the linear-probe evaluation and AudioSet-style mAP.

Samples are dicts `{"input_values": (frames, mel bins), "labels": int}`.
"""

import csv
import io
from pathlib import Path

import numpy as np
import torch
from jepa_core.evaluation import extract_embeddings, linear_probe
from jepa_core.saved_datasets import is_saved_dataset, load_saved_split
from sklearn.metrics import average_precision_score
from torch.utils.data import Dataset

from .configuration_ajepa import AudioJepaConfig
from .processor_ajepa import AUDIO_SUFFIXES, AudioJepaProcessor, read_audio

SYNTH_CLASSES = (
    "tone", "major_chord", "rising_chirp", "falling_chirp", "white_noise", "brown_noise", "slow_clicks", "fast_clicks",
)  # fmt: skip
SPLIT_SIZES = {"train": 512, "test": 256}


def clip_samples(config: AudioJepaConfig) -> int:
    """Samples that give exactly `target_length` fbank frames."""
    milliseconds = (config.target_length - 1) * config.frame_shift_ms + config.frame_length_ms
    return round(config.sampling_rate * milliseconds / 1000)


def synthesize(label: int, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """One clip of class `SYNTH_CLASSES[label]` with random pitch, rate, gain and background noise."""
    t = np.arange(num_samples) / sample_rate
    u = rng.random(4)
    base = 150 * 2 ** (3 * u[0])  # 150–1200 Hz
    name = SYNTH_CLASSES[label]
    if name == "tone":
        wave = np.sin(2 * np.pi * (base * t + u[1]))
    elif name == "major_chord":
        wave = sum(np.sin(2 * np.pi * (base * ratio * t + u[1])) for ratio in (1.0, 1.25, 1.5))
    elif name in ("rising_chirp", "falling_chirp"):
        octaves = (1 + 2 * u[1]) * (1 if name == "rising_chirp" else -1)
        rate = octaves * np.log(2) / (num_samples / sample_rate)
        wave = np.sin(2 * np.pi * base * np.expm1(rate * t) / rate)
    elif name == "white_noise":
        wave = rng.standard_normal(num_samples)
    elif name == "brown_noise":
        walk = rng.standard_normal(num_samples).cumsum()
        wave = walk - np.linspace(walk[0], walk[-1], num_samples)
    else:
        rate = (3 + 4 * u[1]) if name == "slow_clicks" else (25 + 15 * u[1])
        period = max(1, round(sample_rate / rate))
        pulses = np.zeros(num_samples)
        pulses[int(u[2] * period) :: period] = 1.0
        # each click a 10 ms damped sinusoid (an impulse alone drowns in the background noise)
        k = np.arange(sample_rate // 100) / sample_rate
        wave = np.convolve(pulses, np.exp(-k / 0.002) * np.sin(4 * np.pi * base * k))[:num_samples]
    wave = wave / max(np.abs(wave).max(), 1e-8)
    gain = 10 ** (-1.5 * u[3])  # −30 to 0 dB
    return (gain * (0.8 * wave + 0.05 * rng.standard_normal(num_samples))).astype(np.float32)


class SynthesizedAudio(Dataset):
    """Seeded labelled synthetic clips (`SYNTH_CLASSES`, balanced), featurised once at construction."""

    def __init__(self, config: AudioJepaConfig, size: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        num_samples = clip_samples(config)
        self.labels = torch.arange(size) % len(SYNTH_CLASSES)
        waves = [synthesize(int(y), num_samples, config.sampling_rate, rng) for y in self.labels]
        self.features = AudioJepaProcessor.from_config(config)(waves, config.sampling_rate)["input_values"]
        self.class_names = list(SYNTH_CLASSES)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return {"input_values": self.features[index], "labels": self.labels[index]}


class AudioFolder(Dataset):
    """Audio files (wav/flac/mp3/ogg) with labels, featurised on access.

    Layouts: `root/<split>/<class>/*.wav`, or `root/<class>/*.wav` (every split sees all files), or a
    `labels.csv` in `root` with columns `path,label` and optionally `split` (paths relative to `root`).
    """

    def __init__(self, root: str | Path, split: str, config: AudioJepaConfig):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{root} is not a folder; pass a folder of class subfolders or with labels.csv")
        self.processor = AudioJepaProcessor.from_config(config)
        pairs = self._from_csv(split) if (self.root / "labels.csv").is_file() else self._from_folders(split)
        if not pairs:
            raise ValueError(
                f"no {'/'.join(AUDIO_SUFFIXES)} files found for split {split!r} under {root}; expected "
                "class subfolders (optionally inside train/ and test/) or a labels.csv"
            )
        self.class_names = sorted({label for _, label in pairs})
        self.files = [path for path, _ in pairs]
        self.labels = torch.tensor([self.class_names.index(label) for _, label in pairs])

    def _from_folders(self, split: str) -> list[tuple[Path, str]]:
        base = self.root / split if (self.root / split).is_dir() else self.root
        return [
            (path, folder.name)
            for folder in sorted(p for p in base.iterdir() if p.is_dir() and p.name not in ("train", "test"))
            for path in sorted(folder.iterdir())
            if path.suffix.lower() in AUDIO_SUFFIXES
        ]

    def _from_csv(self, split: str) -> list[tuple[Path, str]]:
        with open(self.root / "labels.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        if rows and not {"path", "label"} <= set(rows[0]):
            raise ValueError(f"{self.root / 'labels.csv'} needs columns 'path' and 'label', found {list(rows[0])}")
        return [(self.root / r["path"], r["label"]) for r in rows if r.get("split", split) in (split, "", None)]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        return {"input_values": self.processor.load(self.files[index]), "labels": self.labels[index]}


class AudioColumnDataset(Dataset):
    """A `datasets.Dataset` with an audio column and a label column, featurised on access.

    The audio column may be an `Audio` feature (decoded here with soundfile from its bytes or path, so
    torchcodec, which `datasets` needs to decode audio itself, is not required), file paths, or
    `{"array", "sampling_rate"}` dicts. Labels: a `ClassLabel` column (its names), or ints or strings.
    """

    def __init__(self, dataset, config: AudioJepaConfig, audio_column: str = "audio", label_column: str = "label"):
        from datasets import Audio

        for column in (audio_column, label_column):
            if column not in dataset.column_names:
                raise ValueError(f"the data set has no column {column!r}; its columns are {dataset.column_names}")
        if isinstance(dataset.features[audio_column], Audio):
            dataset = dataset.cast_column(audio_column, Audio(decode=False))
        self.dataset, self.audio_column = dataset, audio_column
        self.processor = AudioJepaProcessor.from_config(config)
        labels, feature = dataset[label_column], dataset.features[label_column]
        if hasattr(feature, "names"):
            self.class_names = list(feature.names)
        elif all(isinstance(label, int) for label in labels):
            self.class_names = [str(i) for i in range(max(labels) + 1)]
        else:
            self.class_names = sorted(set(labels))
            labels = [self.class_names.index(label) for label in labels]
        self.labels = torch.tensor(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        value = self.dataset[index][self.audio_column]
        name = (value.get("path") if isinstance(value, dict) else value) or f"row {index}"
        try:
            audio, rate = self._decode(value)
            return {"input_values": self.processor.features(audio, rate), "labels": self.labels[index]}
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from error

    @staticmethod
    def _decode(value) -> tuple[np.ndarray, int | None]:
        if isinstance(value, dict) and value.get("array") is not None:
            return value["array"], value.get("sampling_rate")
        if isinstance(value, dict) and value.get("bytes"):
            return read_audio(io.BytesIO(value["bytes"]))
        path = value.get("path") if isinstance(value, dict) else value
        if not isinstance(path, str):
            raise ValueError(
                f"the audio column holds {type(value).__name__}; expected an Audio feature, a file path or "
                "an {'array', 'sampling_rate'} dict"
            )
        return read_audio(path)


def default_dataset(split: str, config: AudioJepaConfig) -> SynthesizedAudio:
    if split not in SPLIT_SIZES:
        raise ValueError(f"split must be one of {list(SPLIT_SIZES)}, got {split!r}")
    return SynthesizedAudio(config, SPLIT_SIZES[split], seed=0 if split == "train" else 1)


def load_dataset(path: str, split: str, config: AudioJepaConfig) -> AudioFolder | AudioColumnDataset:
    """`--data`: a `save_to_disk` folder of a `datasets` data set, else a folder of audio files."""
    if is_saved_dataset(path):
        return AudioColumnDataset(load_saved_split(path, split), config)
    return AudioFolder(path, split, config)


def batches(dataset: Dataset, batch_size: int = 64) -> list[dict]:
    """Stack samples into batch dicts for feature extraction."""
    samples = [dataset[i] for i in range(len(dataset))]
    return [
        {key: torch.stack([torch.as_tensor(s[key]) for s in samples[i : i + batch_size]]) for key in samples[0]}
        for i in range(0, len(samples), batch_size)
    ]


def evaluate(encoder, config: AudioJepaConfig, data: str | None) -> dict[str, float]:
    """Linear probe (logistic regression) on mean-pooled frozen embeddings: train split → test split."""
    train = default_dataset("train", config) if data is None else load_dataset(data, "train", config)
    test = default_dataset("test", config) if data is None else load_dataset(data, "test", config)
    prefix = config.num_register_tokens
    train_x, train_y = extract_embeddings(encoder, batches(train), ["input_values"], num_prefix_tokens=prefix)
    test_x, test_y = extract_embeddings(encoder, batches(test), ["input_values"], num_prefix_tokens=prefix)
    probe = linear_probe(train_x, train_y, test_x, test_y)
    return {"probe_accuracy": probe["accuracy"], "probe_f1_macro": probe["f1_macro"]}


def mean_average_precision(scores, targets) -> float:
    """AudioSet-style mAP: average precision per class, averaged over the classes with at least one positive.
    `scores` (N, C) logits or probabilities, `targets` (N, C) in {0, 1}."""
    scores, targets = np.asarray(scores, dtype=np.float64), np.asarray(targets)
    if scores.shape != targets.shape or scores.ndim != 2:
        raise ValueError(f"scores and targets must both be (N, classes), got {scores.shape} and {targets.shape}")
    present = targets.sum(axis=0) > 0
    if not present.any():
        raise ValueError("no class has a positive example; mAP is undefined")
    return float(average_precision_score(targets[:, present], scores[:, present], average="macro"))
