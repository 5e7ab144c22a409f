"""Data: synthesized labelled audio (the embedded default), folders of audio files, and the linear-probe evaluation.

Samples are dicts `{"input_values": (frames, mel bins), "labels": int}`.
"""

import csv
from pathlib import Path

import numpy as np
import torch
from jepa_core.evaluation import extract_embeddings, linear_probe
from torch.utils.data import Dataset

from .configuration_ajepa import AudioJepaConfig
from .processor_ajepa import AUDIO_SUFFIXES, AudioJepaProcessor

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
        wave = np.zeros(num_samples)
        wave[int(u[2] * period) :: period] = 1.0
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


def default_dataset(split: str, config: AudioJepaConfig) -> SynthesizedAudio:
    if split not in SPLIT_SIZES:
        raise ValueError(f"split must be one of {list(SPLIT_SIZES)}, got {split!r}")
    return SynthesizedAudio(config, SPLIT_SIZES[split], seed=0 if split == "train" else 1)


def load_dataset(path: str, split: str, config: AudioJepaConfig) -> AudioFolder:
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
