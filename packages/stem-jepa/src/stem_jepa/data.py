"""Multitrack data: the embedded Bach chorales (`chorales.py`), folders of stem audio files, and `datasets` data sets.

User data: a folder with one subfolder per song holding one audio file per stem (the file name, e.g. `bass.wav`, is
the instrument; `mixture.*` is skipped), or multichannel files whose channels are the instruments in
`config.instrument_names` order (MUSDB-style 4-channel wavs); `train/` and `test/` subfolders are used as splits
when present. Or a `datasets` data set (in memory, or saved with `save_to_disk`) with one audio column per
instrument.

A user's songs are read once by the pre-check and then again, by segment, when their chunks are used (`SongFiles`):
memory does not grow with the number of songs.

Every data set carries the `processor` that turns its audio into log-mels (`StemJepaProcessor.from_config(config)`
when none is given: the front end's fields are config fields) and `class_names` (the instrument names). Splits:
"train", "test" and "all" (every song).
"""

import atexit
import functools
import io
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch
from jepa_core.data_checks import read_files
from jepa_core.domain import SPLITS
from jepa_core.overrides import ConfigFieldError, config_fields
from jepa_core.saved_datasets import is_saved_dataset, load_saved_split
from torch.utils.data import Dataset

from .chorales import SPLITS as CHORALE_SPLITS
from .chorales import default_songs
from .configuration_stem_jepa import StemJepaConfig
from .processor_stem_jepa import StemJepaProcessor

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
    """Fixed-length chunks of multitrack songs: `{"stems": (S, chunk), "instruments": (S,), "input_values":
    (1, n_mels, frames)}`, the last the log-mel of the chunk's mix (all stems summed), made by `processor`.

    Chunks start every `hop` samples (default: half a chunk); a song shorter than a chunk gives one chunk,
    zero-padded at the end. `ids` name each chunk (`song@start_s`); `class_names` are the instruments.
    """

    def __init__(
        self,
        songs: list,
        chunk_samples: int,
        hop: int | None = None,
        processor: StemJepaProcessor | None = None,
        class_names: list[str] | None = None,
    ):
        if not songs:
            raise ValueError("no songs given")
        self.songs, self.chunk_samples, self.class_names = songs, chunk_samples, class_names
        self.processor = processor
        hop = hop or max(1, chunk_samples // 2)
        self.index = [
            (song_index, start)
            for song_index, song in enumerate(songs)
            for start in range(0, max(1, song.num_samples - chunk_samples + 1), hop)
        ]
        rate = processor.sampling_rate if processor is not None else None
        self.ids = [f"{songs[i].name}@{start / rate if rate else start:g}" for i, start in self.index]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: int) -> dict:
        song_index, start = self.index[item]
        song = self.songs[song_index]
        stems = torch.zeros(len(song.instruments), self.chunk_samples)
        segment = torch.from_numpy(np.ascontiguousarray(song.segment(start, self.chunk_samples), dtype=np.float32))
        stems[:, : segment.shape[1]] = segment
        sample = {"stems": stems, "instruments": torch.tensor(song.instruments, dtype=torch.long)}
        if self.processor is not None:
            sample["input_values"] = self.processor.spectrogram(stems.sum(dim=0))[0]
        return sample


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {list(SPLITS)}")


def chunks_of(songs: list, config: StemJepaConfig, processor: StemJepaProcessor | None) -> StemChunks:
    processor = processor if processor is not None else StemJepaProcessor.from_config(config)
    return StemChunks(songs, config.chunk_samples, processor=processor, class_names=list(config.instrument_names))


def default_dataset(split: str, config: StemJepaConfig, processor: StemJepaProcessor | None = None) -> StemChunks:
    """Chunks of the embedded chorales: 48 train songs, 24 test songs, or all 72 ("all")."""
    check_split(split)
    names = list(CHORALE_SPLITS) if split == "all" else [split]
    return chunks_of([song for name in names for song in default_songs(name, config)], config, processor)


def _read(path: Path, start: int = 0, frames: int = -1) -> tuple[np.ndarray, int]:
    try:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True, start=start, frames=frames)
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
        except ConfigFieldError as error:  # keeps its field, so that the CLI names `--set instrument_names=…`
            raise ConfigFieldError(f"song {song}, stem {name}: {error.problem}", error.field, error.value) from None
    if len(set(instruments)) != len(instruments):
        raise ValueError(f"song {song} has two stems for the same instrument: {list(stems)}")
    rates = {name: rate for name, (_, rate) in stems.items()}
    if len(set(rates.values())) != 1:
        raise ValueError(f"song {song}: stems have different sample rates {rates}; resample them to one rate")
    mono = {name: audio.mean(axis=0) if audio.ndim == 2 else audio for name, (audio, _) in stems.items()}
    lengths = {name: len(audio) for name, audio in mono.items()}
    longest = max(lengths.values())
    if len(set(lengths.values())) != 1:
        rate = next(iter(rates.values()))
        short = ", ".join(f"{name} ({count / rate:.2f} s)" for name, count in lengths.items() if count < longest)
        raise ValueError(
            f"song {song}: truncated stem(s) {short}; the other stems last {longest / rate:.2f} s. Re-export the "
            "truncated file(s), or trim every stem of the song to one length"
        )
    audio = _resample(np.stack(list(mono.values())).astype(np.float32), next(iter(rates.values())), config)
    return AudioSong(Path(song).name, audio, instruments)


def _stem_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    return [p for p in files if p.stem.lower() not in SKIPPED_STEMS]


def _song_from_stem_files(folder: Path, config: StemJepaConfig) -> AudioSong:
    return _song_from_stems(str(folder), {p.name: _read(p) for p in _stem_files(folder)}, config)


def _song_from_multichannel(path: Path, config: StemJepaConfig) -> AudioSong:
    audio, rate = _read(path)
    if audio.shape[0] != config.num_instruments:
        raise ValueError(
            f"{path} has {audio.shape[0]} channels but the config has {config.num_instruments} instruments "
            f"{list(config.instrument_names)}; multichannel files hold one instrument per channel, in that order"
        )
    return AudioSong(path.stem, _resample(audio, rate, config), list(range(config.num_instruments)))


def song_entries(root: Path) -> list[Path]:
    """The songs of a folder: subfolders of stem files and multichannel audio files."""
    return [
        entry
        for entry in sorted(root.iterdir())
        if (entry.is_dir() and entry.name not in CHORALE_SPLITS)
        or (entry.is_file() and entry.suffix.lower() in AUDIO_SUFFIXES)
    ]


def stem_names(entries: list[Path]) -> list[str]:
    """The instrument names the stem files of song folders give (file names without suffix, lower case; `mixture`
    skipped), sorted (MUSDB's bass, drums, other, vocals come out in the reference's channel order)."""
    return sorted(
        {
            p.stem.lower()
            for entry in entries
            if entry.is_dir()
            for p in entry.iterdir()
            if p.suffix.lower() in AUDIO_SUFFIXES and p.stem.lower() not in SKIPPED_STEMS
        }
    )


def infer_instruments(config: StemJepaConfig, names: list[str]) -> StemJepaConfig:
    """`config` with `instrument_names` taken from the files' stem names when the config's do not cover them (the
    MUSDB / MoisesDB names under the tiny preset's chorale voices); unchanged when they do."""
    if not names or set(names) <= set(config.instrument_names):
        return config
    values = {**config.to_dict(), "instrument_names": list(names)}
    return type(config)(**{k: v for k, v in values.items() if k in config_fields(type(config))})


@dataclass
class SongFiles:
    """A song of a user's data, read when used (nothing is kept): `num_samples`, `instruments`, `segment` and
    `stems` as `AudioSong`'s. The stems are read by segment from `files` (one audio file per stem, mixed to mono,
    or one multichannel file, a channel a stem) when those are WAV / FLAC / AIFF at the model's rate; any other
    song (another rate, a lossy format, a `datasets` row) was decoded once by the pre-check into `scratch`, a
    float32 .npy at the model's rate in a temporary folder (removed when the process exits)."""

    name: str
    instruments: list[int]
    num_samples: int
    files: list[Path]
    multichannel: bool = False
    scratch: Path | None = None
    key: int = -1

    def segment(self, start: int, length: int) -> np.ndarray:
        if self.scratch is not None:
            return np.asarray(np.load(self.scratch, mmap_mode="r")[:, start : start + length])
        frames = max(0, min(length, self.num_samples - start))
        if self.multichannel:
            return _read(self.files[0], start, frames)[0]
        return np.stack([_read(f, start, frames)[0].mean(axis=0) for f in self.files]).astype(np.float32)

    @property
    def stems(self) -> np.ndarray:
        return self.segment(0, self.num_samples)


EXACT_SEEK_SUFFIXES = (".wav", ".flac", ".aiff", ".aif")  # formats whose segments read exactly as the whole file's


@functools.cache
def _scratch_folder() -> Path:
    folder, owner = Path(tempfile.mkdtemp(prefix="jepa-stems-")), os.getpid()
    atexit.register(lambda: os.getpid() == owner and shutil.rmtree(folder, ignore_errors=True))
    return folder


def _on_demand(song: AudioSong, files: list[Path], multichannel: bool, config: StemJepaConfig) -> SongFiles:
    """`song` (read by the pre-check) as a `SongFiles` that reads its files again, or its scratch copy."""
    by_segment = bool(files) and all(
        f.suffix.lower() in EXACT_SEEK_SUFFIXES and soundfile.info(str(f)).samplerate == config.sample_rate
        for f in files
    )
    scratch = None
    if not by_segment:
        scratch = _scratch_folder() / f"{uuid.uuid4().hex}.npy"
        np.save(scratch, np.asarray(song.stems, dtype=np.float32))
    return SongFiles(song.name, song.instruments, song.num_samples, files, multichannel, scratch, song.key)


def _read_song(entry: Path, config: StemJepaConfig) -> tuple[SongFiles | None, str | None]:
    try:
        if entry.is_dir():
            return _on_demand(_song_from_stem_files(entry, config), _stem_files(entry), False, config), None
        return _on_demand(_song_from_multichannel(entry, config), [entry], True, config), None
    except ConfigFieldError:
        raise
    except ValueError as error:
        return None, str(error).removeprefix(f"song {entry}: ")


def load_songs(path: str | Path, config: StemJepaConfig) -> list[SongFiles]:
    """Songs of a folder: subfolders of stem files and/or multichannel audio files (see the module docstring),
    read through the pre-check: every unreadable song, truncated stem, or song with fewer than 2 stems is listed at
    once (`on_bad_file="skip"` leaves them out). The songs are read again when used (`SongFiles`)."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of songs (one subfolder of stem files per song)")
    entries = song_entries(root)
    if not entries:
        raise ValueError(f"{root} holds no songs: expected subfolders of stem files or multichannel audio files")
    good = read_files(entries, lambda entry: _read_song(entry, config), lambda value: value[1], config.on_bad_file)
    return [song for _, (song, _) in good]


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


def songs_from_dataset(table, config: StemJepaConfig) -> list[SongFiles]:
    """Songs of a `datasets.Dataset`, one row per song: one column per instrument, named as in
    `config.instrument_names` (other columns, e.g. `mixture`, are ignored), holding an `Audio` value or an array
    of samples (at the rate of a `sampling_rate` column, else the config's); an optional `name` column. A missing
    stem is None. The same checks as for folders apply to each row; each song is kept as a scratch file
    (`SongFiles`), one row in memory at a time."""
    from datasets import Audio

    columns = [c for c in table.column_names if c.lower() in config.instrument_names]
    if len(columns) < 2:
        audio = [c for c in table.column_names if c.lower() not in ("name", "sampling_rate", "mixture", "mix")]
        raise ConfigFieldError(
            f"the data set has columns {table.column_names}; it needs one audio column per instrument, named after "
            f"at least 2 of {list(config.instrument_names)}, or instrument_names set to its stems' names",
            "instrument_names",
            [c.lower() for c in audio],
        )
    for column in columns:  # read audio bytes with soundfile: `datasets` decoding needs torchcodec
        if isinstance(table.features[column], Audio):
            table = table.cast_column(column, Audio(decode=False))
    songs = []
    for index, row in enumerate(table):
        rate = int(row.get("sampling_rate") or config.sample_rate)
        stems = {c: _cell_audio(row[c], rate) for c in columns if row[c] is not None}
        song = _song_from_stems(str(row.get("name", f"row {index}")), stems, config)
        songs.append(_on_demand(song, [], False, config))
    if not songs:
        raise ValueError("the data set has no rows")
    return songs


def load_split_songs(path: str | Path, split: str, config: StemJepaConfig) -> list[SongFiles]:
    """A `datasets.save_to_disk` folder (its `split` when it holds several; "all": every split), else
    `path/<split>` when it exists (MUSDB layout; "all": `train/` and `test/`), else `path` itself."""
    check_split(split)
    root = Path(path)
    if is_saved_dataset(root):
        if split != "all":
            return songs_from_dataset(load_saved_split(root, split), config)
        from datasets import DatasetDict, load_from_disk

        data = load_from_disk(str(root))
        tables = list(data.values()) if isinstance(data, DatasetDict) else [data]
        return [song for table in tables for song in songs_from_dataset(table, config)]
    if split == "all":
        folders = [root / name for name in CHORALE_SPLITS if (root / name).is_dir()]
        return [song for folder in folders or [root] for song in load_songs(folder, config)]
    return load_songs(root / split if (root / split).is_dir() else root, config)


def split_folders(path: str | Path, split: str) -> list[Path]:
    root = Path(path)
    if split == "all":
        return [root / name for name in CHORALE_SPLITS if (root / name).is_dir()] or [root]
    return [root / split if (root / split).is_dir() else root]


def load_dataset(
    path: str, split: str, config: StemJepaConfig, processor: StemJepaProcessor | None = None
) -> StemChunks:
    """`--data`: the train split read without a processor takes its `instrument_names` from the stem files when
    the config's do not cover them (`infer_instruments`; `dataset.config` is the config to build), the other
    splits use the config's (the run's)."""
    check_split(split)
    if processor is None and split == "train" and Path(path).is_dir() and not is_saved_dataset(path):
        entries = [e for folder in split_folders(path, split) if folder.is_dir() for e in song_entries(folder)]
        config = infer_instruments(config, stem_names(entries))
    dataset = chunks_of(load_split_songs(path, split, config), config, processor)
    dataset.config = config
    return dataset
