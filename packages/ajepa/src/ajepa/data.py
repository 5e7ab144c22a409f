"""Data: synthesized labelled audio (the embedded default), folders of audio files, `datasets` audio columns,
and AudioSet-style mAP.

Samples are dicts `{"input_values": (frames, mel bins), "labels": int}`. User data (`AudioFolder`,
`AudioColumnDataset`) goes through a pre-check that lists every bad clip at once and is cut into windows of
`target_length` frames (see `AudioClips`). Every data set carries the
`processor` that featurises it (`AudioJepaProcessor.from_config(config)` when none is given: the fbank
statistics are config fields), `labels`, `class_names` and `ids`. Splits: "train", "test", "all" (every sample).
"""

import csv
import io
import math
from pathlib import Path

import numpy as np
import torch
from jepa_core.data_checks import read_files
from jepa_core.domain import SPLITS
from jepa_core.saved_datasets import is_saved_dataset, load_saved_split
from jepa_core.streams import FIT_RECORDS, Column, StreamFormat, find_shards, shard_table
from jepa_core.windows import Windows, random_start
from torch.utils.data import Dataset

from .configuration_ajepa import AudioJepaConfig
from .processor_ajepa import AUDIO_SUFFIXES, AudioJepaProcessor, named_error, read_audio

SYNTH_CLASSES = (
    "tone", "major_chord", "rising_chirp", "falling_chirp", "white_noise", "brown_noise", "slow_clicks", "fast_clicks",
)  # fmt: skip
SPLIT_SIZES = {"train": 512, "test": 256}
# Shards: Parquet/Arrow columns, or the extensions of the files of a tar record (`000.flac` + `000.cls`).
SHARD_COLUMNS = (
    Column("audio", ("audio", *(suffix[1:] for suffix in AUDIO_SUFFIXES))),
    Column("label", ("label", "labels", "cls"), required=False),
)


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


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")


def processor_for(config: AudioJepaConfig, processor: AudioJepaProcessor | None) -> AudioJepaProcessor:
    """The given processor, or the one the config describes (the fbank statistics are config fields)."""
    return processor if processor is not None else AudioJepaProcessor.from_config(config)


class SynthesizedAudio(Dataset):
    """Seeded labelled synthetic clips (`SYNTH_CLASSES`, balanced), featurised once at construction."""

    def __init__(
        self,
        config: AudioJepaConfig,
        size: int,
        seed: int = 0,
        processor: AudioJepaProcessor | None = None,
        name: str = "clip",
    ):
        rng = np.random.default_rng(seed)
        num_samples = clip_samples(config)
        self.processor = processor_for(config, processor)
        self.labels = torch.arange(size) % len(SYNTH_CLASSES)
        waves = [synthesize(int(y), num_samples, config.sampling_rate, rng) for y in self.labels]
        self.features = self.processor(waves, sampling_rate=config.sampling_rate)["input_values"]
        self.class_names = list(SYNTH_CLASSES)
        self.ids = [f"{name}-{i}" for i in range(size)]

    @classmethod
    def joined(cls, parts: list["SynthesizedAudio"]) -> "SynthesizedAudio":
        """One data set of the samples of `parts`, in order (the "all" split)."""
        whole = cls.__new__(cls)
        whole.processor, whole.class_names = parts[0].processor, parts[0].class_names
        whole.labels = torch.cat([p.labels for p in parts])
        whole.features = torch.cat([p.features for p in parts])
        whole.ids = [i for p in parts for i in p.ids]
        return whole

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return {"input_values": self.features[index], "labels": self.labels[index]}


class AudioClips(Dataset):
    """Labelled clips from a user's data: every clip read once up front (the pre-check), then cut into windows of
    `target_length` frames, one sample each: strided (every `target_length` frames, the last one aligned to the
    clip's end) for evaluation and embedding, random crops for pretraining (the "train" split read without a
    processor). A clip shorter than `target_length` frames (but at least one patch) is one window, zero-padded.

    The pre-check (`jepa_core.data_checks.read_files`) lists every unreadable, truncated, NaN, silent, too short
    (< one patch) or wrongly scaled clip at once; `config.on_bad_file="skip"` leaves them out. The train split read
    without a processor fits `fbank_mean` / `fbank_std` on its clips (unless `fit_normalization=False`), as AudioMAE
    computes statistics per data set; the fitted processor is `self.processor`, saved in the run folder.
    `labels` and `ids` are per window (`clip@start_s` when a clip gives several); `clip_of[i]` is the clip of
    window i.
    """

    def _build(self, names: list[str], labels: list[int], split: str, config: AudioJepaConfig, processor) -> None:
        fitting = processor is None and split == "train"
        self.processor = proc = processor_for(config, processor)
        by_name = {str(Path(name)): index for index, name in enumerate(names)}
        totals = np.zeros(3)

        def read(path: Path) -> tuple[int, int, str | None]:
            index = by_name[str(path)]
            waveform = proc.prepare(*self._decode(index), name=self.names[index])
            problem = proc.problem(waveform)
            if problem is None and fitting and config.fit_normalization:
                values = proc.fbank(torch.from_numpy(waveform)).double()
                totals[:] += (values.sum().item(), values.pow(2).sum().item(), values.numel())
            return index, proc.num_frames(len(waveform)), problem

        good = read_files(names, read, lambda value: value[2], config.on_bad_file)
        if totals[2]:
            mean = totals[0] / totals[2]
            proc.fbank_mean, proc.fbank_std = float(mean), float(np.sqrt(max(totals[1] / totals[2] - mean**2, 1e-12)))
        self.clips = [index for _, (index, _, _) in good]
        frames = [count for _, (_, count, _) in good]
        length = proc.target_length
        self.windows = Windows([max(f, length) for f in frames], length, self._crop, random_crops=fitting)
        self.clip_of = [self.clips[r] for r in self.windows.recording_of]
        starts = [start for _, start in self.windows.items]
        several = {r for r in self.windows.recording_of if frames[r] > length}
        seconds = proc.frame_shift_ms / 1000
        self.labels = torch.as_tensor(labels)[self.clip_of]
        self.ids = [
            f"{self.names[c]}@{start * seconds:g}s" if r in several and start is not None else self.names[c]
            for c, r, start in zip(self.clip_of, self.windows.recording_of, starts, strict=True)
        ]

    def _decode(self, index: int) -> tuple[np.ndarray, int | None, int | None]:
        raise NotImplementedError

    def _crop(self, recording: int, start: int) -> dict:
        index = self.clips[recording]
        try:
            waveform = self.processor.to_mono(*self._decode(index), name="")  # the pre-check warned once
        except ValueError as error:
            raise named_error(error, self.names[index]) from error
        fbank = self.processor.fbank(waveform)[start : start + self.processor.target_length]
        return {"input_values": self.processor.normalize(fbank), "labels": self.clip_labels[index]}

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict:
        return self.windows[index]


class AudioFolder(AudioClips):
    """Audio files (wav/flac/mp3/ogg, any rate, mono or multichannel) with labels, read through the pre-check
    and cut into windows (see `AudioClips`).

    Layouts: `root/<split>/<class>/*.wav`, or `root/<class>/*.wav` (every split sees all files), or a
    `labels.csv` in `root` with columns `path,label` and optionally `split` (paths relative to `root`).
    """

    def __init__(
        self, root: str | Path, split: str, config: AudioJepaConfig, processor: AudioJepaProcessor | None = None
    ):
        check_split(split)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{root} is not a folder; pass a folder of class subfolders or with labels.csv")
        pairs = self._from_csv(split) if (self.root / "labels.csv").is_file() else self._from_folders(split)
        if not pairs:
            raise ValueError(
                f"no {'/'.join(AUDIO_SUFFIXES)} files found for split {split!r} under {root}; expected "
                "class subfolders (optionally inside train/ and test/) or a labels.csv"
            )
        self.class_names = sorted({label for _, label in pairs})
        self.paths = [path for path, _ in pairs]
        self.names = [str(path.relative_to(self.root)) for path in self.paths]
        self.clip_labels = torch.tensor([self.class_names.index(label) for _, label in pairs])
        self._build([str(p) for p in self.paths], self.clip_labels.tolist(), split, config, processor)
        self.files = [self.paths[c] for c in self.clips]

    def _decode(self, index: int) -> tuple[np.ndarray, int, int]:
        return (*read_audio(self.paths[index]), 1)

    def _from_folders(self, split: str) -> list[tuple[Path, str]]:
        split_folders = [self.root / s for s in ("train", "test") if (self.root / s).is_dir()]
        if split == "all":
            bases = split_folders or [self.root]
        else:
            bases = [self.root / split] if (self.root / split).is_dir() else [self.root]
        return [
            (path, folder.name)
            for base in bases
            for folder in sorted(p for p in base.iterdir() if p.is_dir() and p.name not in ("train", "test"))
            for path in sorted(folder.iterdir())
            if path.suffix.lower() in AUDIO_SUFFIXES
        ]

    def _from_csv(self, split: str) -> list[tuple[Path, str]]:
        with open(self.root / "labels.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        if rows and not {"path", "label"} <= set(rows[0]):
            raise ValueError(f"{self.root / 'labels.csv'} needs columns 'path' and 'label', found {list(rows[0])}")
        wanted = (split, "", None) if split != "all" else None
        return [(self.root / r["path"], r["label"]) for r in rows if wanted is None or r.get("split", split) in wanted]


class AudioColumnDataset(AudioClips):
    """A `datasets.Dataset` with an audio column and a label column, read through the pre-check and cut into
    windows (see `AudioClips`).

    The audio column may be an `Audio` feature (decoded here with soundfile from its bytes or path, so
    torchcodec, which `datasets` needs to decode audio itself, is not required), file paths, or
    `{"array", "sampling_rate"}` dicts (a 2-D array is (channels, samples), averaged to mono). Labels: a
    `ClassLabel` column (its names), or ints or strings.
    """

    def __init__(
        self,
        dataset,
        config: AudioJepaConfig,
        audio_column: str = "audio",
        label_column: str = "label",
        processor: AudioJepaProcessor | None = None,
        split: str = "test",
    ):
        from datasets import Audio

        for column in (audio_column, label_column):
            if column not in dataset.column_names:
                raise ValueError(f"the data set has no column {column!r}; its columns are {dataset.column_names}")
        if isinstance(dataset.features[audio_column], Audio):
            dataset = dataset.cast_column(audio_column, Audio(decode=False))
        self.dataset, self.audio_column = dataset, audio_column
        labels, feature = dataset[label_column], dataset.features[label_column]
        if hasattr(feature, "names"):
            self.class_names = list(feature.names)
        elif all(isinstance(label, int) for label in labels):
            self.class_names = [str(i) for i in range(max(labels) + 1)]
        else:
            self.class_names = sorted(set(labels))
            labels = [self.class_names.index(label) for label in labels]
        self.clip_labels = torch.tensor(labels)
        paths = _audio_paths(dataset, audio_column)
        self.names = [p if isinstance(p, str) and p else f"row {i}" for i, p in enumerate(paths)]
        unique = len(set(self.names)) == len(self.names)
        keys = self.names if unique else [f"row {i}" for i in range(len(self.names))]
        self._build(keys, self.clip_labels.tolist(), split, config, processor)

    def _decode(self, index: int) -> tuple[np.ndarray, int | None, int]:
        value = self.dataset[index][self.audio_column]
        if isinstance(value, dict) and value.get("array") is not None:
            return value["array"], value.get("sampling_rate"), 0
        if isinstance(value, dict) and value.get("bytes"):
            return (*read_audio(io.BytesIO(value["bytes"])), 1)
        path = value.get("path") if isinstance(value, dict) else value
        if not isinstance(path, str):
            raise ValueError(
                f"the audio column holds {type(value).__name__}; expected an Audio feature, a file path or "
                "an {'array', 'sampling_rate'} dict"
            )
        return (*read_audio(path), 1)


def _audio_paths(dataset, column: str) -> list:
    """The path of each row's audio (None where unknown), read from Arrow a batch at a time: the audio bytes and
    arrays are never held together."""
    import pyarrow as pa
    import pyarrow.compute as pc

    paths = []
    for batch in dataset.select_columns([column]).with_format("arrow").iter(batch_size=1000):
        values = batch.column(column)
        if pa.types.is_struct(values.type) and values.type.get_field_index("path") >= 0:
            paths += pc.struct_field(values, "path").to_pylist()
        elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            paths += values.to_pylist()
        else:
            paths += [None] * len(values)
    return paths


def _record_waveform(record: dict, processor: AudioJepaProcessor) -> np.ndarray:
    """A shard record's audio (`{"bytes", "path"}`, encoded bytes, `{"array", "sampling_rate"}`) → checked mono
    waveform at the processor's rate; ValueError for unreadable, silent or too short audio."""
    value = record["audio"]
    if value is None:
        raise ValueError("the record has no audio")
    audio, rate, channel_axis = processor.decode({"bytes": value} if isinstance(value, bytes) else value, None)
    waveform = processor.prepare(audio, rate, channel_axis, name=record["__name__"])
    problem = processor.problem(waveform)
    if problem:
        raise ValueError(problem)
    return waveform


def stream_format(config: AudioJepaConfig) -> StreamFormat:
    """`jepa pretrain ajepa --data SHARDS`: each record's clip (`.flac`/`.wav`… in tar shards, an `audio` column
    in Parquet/Arrow) → random crops of `target_length` frames, ceil(frames / target_length) of them (one,
    zero-padded, for a shorter clip), as `AudioClips` gives for pretraining; labels are not read. With
    `fit_normalization`, `fbank_mean` / `fbank_std` are fitted on the first `FIT_RECORDS` (256) records in file
    order (bad ones left out of the statistics; the stream reports them)."""

    def processor(records: list[dict]) -> AudioJepaProcessor:
        fitted = processor_for(config, None)
        totals = np.zeros(3)
        for record in records:
            try:
                values = fitted.fbank(torch.from_numpy(_record_waveform(record, fitted))).double()
            except ValueError:
                continue
            totals += (values.sum().item(), values.pow(2).sum().item(), values.numel())
        if totals[2]:
            mean = totals[0] / totals[2]
            fitted.fbank_mean = float(mean)
            fitted.fbank_std = float(np.sqrt(max(totals[1] / totals[2] - mean**2, 1e-12)))
        return fitted

    def samples(record: dict, processor: AudioJepaProcessor) -> list[dict]:
        fbank = processor.fbank(torch.from_numpy(_record_waveform(record, processor)))
        length = processor.target_length
        frames = max(len(fbank), length)
        starts = [random_start(frames, length) for _ in range(math.ceil(frames / length))]
        return [{"input_values": processor.normalize(fbank[start : start + length])} for start in starts]

    return StreamFormat(SHARD_COLUMNS, samples, processor, FIT_RECORDS if config.fit_normalization else 0)


def default_dataset(
    split: str, config: AudioJepaConfig, processor: AudioJepaProcessor | None = None
) -> SynthesizedAudio:
    """The embedded synthesized clips: 512 train (seed 0), 256 test (seed 1), or both ("all")."""
    check_split(split)
    if split == "all":
        processor = processor_for(config, processor)
        return SynthesizedAudio.joined([default_dataset(s, config, processor) for s in SPLIT_SIZES])
    return SynthesizedAudio(config, SPLIT_SIZES[split], 0 if split == "train" else 1, processor, name=split)


def saved_split(path: str | Path, split: str):
    """A split of a `save_to_disk` folder; "all" joins every split of a `DatasetDict`."""
    if split != "all":
        return load_saved_split(path, split)
    from datasets import DatasetDict, concatenate_datasets, load_from_disk

    data = load_from_disk(str(path))
    return concatenate_datasets(list(data.values())) if isinstance(data, DatasetDict) else data


def load_dataset(
    path: str, split: str, config: AudioJepaConfig, processor: AudioJepaProcessor | None = None
) -> AudioFolder | AudioColumnDataset:
    """`--data`: a `save_to_disk` folder of a `datasets` data set, shard files (Parquet, Arrow, WebDataset tar, see
    `SHARD_COLUMNS`; read map-style here, streamed by `jepa pretrain`; `train/` and `test/` subfolders are the
    splits, else every split is every record), else a folder of audio files. Clips are decoded on access."""
    check_split(split)
    shards = find_shards(path, split)
    if shards is not None:
        table = shard_table(shards, SHARD_COLUMNS, config.on_bad_file)
        return AudioColumnDataset(table, config, processor=processor, split=split)
    if is_saved_dataset(path):
        return AudioColumnDataset(saved_split(path, split), config, processor=processor, split=split)
    return AudioFolder(path, split, config, processor)


def mean_average_precision(scores, targets) -> float:
    """AudioSet-style mAP: average precision per class, averaged over the classes with at least one positive.
    `scores` (N, C) logits or probabilities, `targets` (N, C) in {0, 1}."""
    from sklearn.metrics import average_precision_score

    scores, targets = np.asarray(scores, dtype=np.float64), np.asarray(targets)
    if scores.shape != targets.shape or scores.ndim != 2:
        raise ValueError(f"scores and targets must both be (N, classes), got {scores.shape} and {targets.shape}")
    present = targets.sum(axis=0) > 0
    if not present.any():
        raise ValueError("no class has a positive example; mAP is undefined")
    return float(average_precision_score(targets[:, present], scores[:, present], average="macro"))
