"""Multitrack data: the embedded Bach chorales (`chorales.py`), folders of stem audio files, and `datasets` data sets.

User data: a folder with one subfolder per song holding one audio file per stem (the file name, e.g. `bass.wav`, is
the instrument; `mixture.*` is skipped), or multichannel files whose channels are the instruments in
`config.instrument_names` order (MUSDB-style 4-channel wavs); `train/` and `test/` subfolders are used as splits
when present. Or a `datasets` data set (in memory, or saved with `save_to_disk`) with one audio column per
instrument.
"""

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch
from jepa_core.saved_datasets import is_saved_dataset, load_saved_split
from torch.utils.data import Dataset

from .chorales import SPLITS, default_songs
from .configuration_stem_jepa import StemJepaConfig

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
SKIPPED_STEMS = ("mixture", "mix")


@dataclass
class AudioSong:
    """A multitrack song as audio: `stems` (S, T) float32 at the config's sample rate."""

    name: str
    stems: np.ndarray
    instruments: list[int]
    key: int = -1

    @property
    def num_samples(self) -> int:
        return self.stems.shape[1]

    def segment(self, start: int, length: int) -> np.ndarray:
        return self.stems[:, start : start + length]


class StemChunks(Dataset):
    """Fixed-length chunks of multitrack songs: `{"stems": (S, chunk), "instruments": (S,)}`.

    Chunks start every `hop` samples (default: half a chunk); a song shorter than a chunk gives one chunk,
    zero-padded at the end.
    """

    def __init__(self, songs: list, chunk_samples: int, hop: int | None = None):
        if not songs:
            raise ValueError("no songs given")
        self.songs, self.chunk_samples = songs, chunk_samples
        hop = hop or max(1, chunk_samples // 2)
        self.index = [
            (song_index, start)
            for song_index, song in enumerate(songs)
            for start in range(0, max(1, song.num_samples - chunk_samples + 1), hop)
        ]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: int) -> dict:
        song_index, start = self.index[item]
        song = self.songs[song_index]
        stems = torch.zeros(len(song.instruments), self.chunk_samples)
        segment = torch.from_numpy(np.ascontiguousarray(song.segment(start, self.chunk_samples), dtype=np.float32))
        stems[:, : segment.shape[1]] = segment
        return {"stems": stems, "instruments": torch.tensor(song.instruments, dtype=torch.long)}


def default_dataset(split: str, config: StemJepaConfig) -> StemChunks:
    return StemChunks(default_songs(split, config), config.chunk_samples)


def _read(path: Path) -> tuple[np.ndarray, int]:
    try:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:
        raise ValueError(f"cannot read the audio file {path}: {error}; convert it to wav or flac") from error
    return audio.T, rate


def _resample(audio: np.ndarray, rate: int, config: StemJepaConfig) -> np.ndarray:
    if rate == config.sample_rate:
        return audio
    import librosa

    return librosa.resample(audio, orig_sr=rate, target_sr=config.sample_rate, axis=-1).astype(np.float32)


def read_mono(path: str | Path, config: StemJepaConfig) -> np.ndarray:
    """One audio file as a mono waveform at `config.sample_rate` (channels averaged, resampled if needed)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no audio file at {path}")
    audio, rate = _read(path)
    return _resample(audio.mean(axis=0), rate, config)


def _song_from_stems(song: str, stems: dict[str, tuple[np.ndarray, int]], config: StemJepaConfig) -> AudioSong:
    """One song from {stem name: (audio (C, T) or (T,), sample rate)}; the names are instruments. Checks that
    there are at least 2 stems, known instruments, one sample rate and one length, then mixes to mono and
    resamples."""
    if len(stems) < 2:
        raise ValueError(
            f"song {song} has {len(stems)} stem(s) {list(stems)}; Stem-JEPA needs at least 2 stems per song "
            "(one per instrument)"
        )
    instruments = []
    for name in stems:
        try:
            instruments.append(config.instrument_index(Path(name).stem))
        except ValueError as error:
            raise ValueError(f"song {song}, stem {name}: {error}") from None
    if len(set(instruments)) != len(instruments):
        raise ValueError(f"song {song} has two stems for the same instrument: {list(stems)}")
    rates = {name: rate for name, (_, rate) in stems.items()}
    if len(set(rates.values())) != 1:
        raise ValueError(f"song {song}: stems have different sample rates {rates}; resample them to one rate")
    mono = {name: audio.mean(axis=0) if audio.ndim == 2 else audio for name, (audio, _) in stems.items()}
    lengths = {name: len(audio) for name, audio in mono.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"song {song}: stems have different lengths (samples) {lengths}; trim or pad them to one")
    audio = _resample(np.stack(list(mono.values())).astype(np.float32), next(iter(rates.values())), config)
    return AudioSong(Path(song).name, audio, instruments)


def _song_from_stem_files(folder: Path, config: StemJepaConfig) -> AudioSong:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    stems = {p.name: _read(p) for p in files if p.stem.lower() not in SKIPPED_STEMS}
    return _song_from_stems(str(folder), stems, config)


def _song_from_multichannel(path: Path, config: StemJepaConfig) -> AudioSong:
    audio, rate = _read(path)
    if audio.shape[0] != config.num_instruments:
        raise ValueError(
            f"{path} has {audio.shape[0]} channels but the config has {config.num_instruments} instruments "
            f"{list(config.instrument_names)}; multichannel files hold one instrument per channel, in that order"
        )
    return AudioSong(path.stem, _resample(audio, rate, config), list(range(config.num_instruments)))


def load_songs(path: str | Path, config: StemJepaConfig) -> list[AudioSong]:
    """Songs of a folder: subfolders of stem files and/or multichannel audio files (see the module docstring)."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of songs (one subfolder of stem files per song)")
    songs = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and entry.name not in SPLITS:
            songs.append(_song_from_stem_files(entry, config))
        elif entry.is_file() and entry.suffix.lower() in AUDIO_SUFFIXES:
            songs.append(_song_from_multichannel(entry, config))
    if not songs:
        raise ValueError(f"{root} holds no songs: expected subfolders of stem files or multichannel audio files")
    return songs


def _cell_audio(value, rate: int) -> tuple[np.ndarray, int]:
    """A `datasets` cell: a decoded Audio dict (`array`, `sampling_rate`), an undecoded one (`bytes` or `path`),
    or an array of samples at `rate`."""
    if isinstance(value, dict) and "array" in value:
        return np.asarray(value["array"], dtype=np.float32), int(value["sampling_rate"])
    if isinstance(value, dict):
        source = io.BytesIO(value["bytes"]) if value.get("bytes") else value["path"]
        audio, rate = soundfile.read(source, dtype="float32", always_2d=True)
        return audio.T, rate
    return np.asarray(value, dtype=np.float32), rate


def songs_from_dataset(table, config: StemJepaConfig) -> list[AudioSong]:
    """Songs of a `datasets.Dataset`, one row per song: one column per instrument, named as in
    `config.instrument_names` (other columns, e.g. `mixture`, are ignored), holding an `Audio` value or an array
    of samples (at the rate of a `sampling_rate` column, else the config's); an optional `name` column. A missing
    stem is None. The same checks as for folders apply to each row."""
    from datasets import Audio

    columns = [c for c in table.column_names if c.lower() in config.instrument_names]
    if len(columns) < 2:
        raise ValueError(
            f"the data set has columns {table.column_names}; it needs one audio column per instrument, named after "
            f"at least 2 of {list(config.instrument_names)} (or set instrument_names to your stems' names)"
        )
    for column in columns:  # read audio bytes with soundfile: `datasets` decoding needs torchcodec
        if isinstance(table.features[column], Audio):
            table = table.cast_column(column, Audio(decode=False))
    songs = []
    for index, row in enumerate(table):
        rate = int(row.get("sampling_rate") or config.sample_rate)
        stems = {c: _cell_audio(row[c], rate) for c in columns if row[c] is not None}
        songs.append(_song_from_stems(str(row.get("name", f"row {index}")), stems, config))
    if not songs:
        raise ValueError("the data set has no rows")
    return songs


def load_split_songs(path: str | Path, split: str, config: StemJepaConfig) -> list[AudioSong]:
    """A `datasets.save_to_disk` folder (its `split` when it holds several), else `path/<split>` when it exists
    (MUSDB layout), else `path` itself."""
    root = Path(path)
    if is_saved_dataset(root):
        return songs_from_dataset(load_saved_split(root, split), config)
    return load_songs(root / split if (root / split).is_dir() else root, config)


def load_dataset(path: str, split: str, config: StemJepaConfig) -> StemChunks:
    return StemChunks(load_split_songs(path, split, config), config.chunk_samples)
