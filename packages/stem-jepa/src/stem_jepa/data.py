"""Multitrack data: Bach chorales rendered voice by voice (the embedded default), folders of stem audio files,
and `datasets` data sets.

Default data: the four-voice (SATB) Bach chorales that music21 ships as scores, read once into note lists
(cached as JSON under `$JEPA_CACHE_DIR` or `~/.cache/jepa/stem-jepa`) and rendered voice by voice (each song once,
then kept in memory): with tinysoundfont and the General MIDI soundfont TimGM6mb.sf2 that ships inside pretty_midi
(the `jepa-stem[soundfont]` extra; one GM program per voice, `GM_PROGRAMS`), else by a small additive synthesizer
with one timbre per voice (`TIMBRES`). Without music21 (or its corpus), random four-voice cadential progressions
are rendered instead.

User data: a folder with one subfolder per song holding one audio file per stem (the file name, e.g. `bass.wav`, is
the instrument; `mixture.*` is skipped), or multichannel files whose channels are the instruments in
`config.instrument_names` order (MUSDB-style 4-channel wavs); `train/` and `test/` subfolders are used as splits
when present. Or a `datasets` data set (in memory, or saved with `save_to_disk`) with one audio column per
instrument.
"""

import io
import json
import logging
import math
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import soundfile
import torch
from jepa_core.saved_datasets import is_saved_dataset, load_saved_split
from torch.utils.data import Dataset

from .configuration_stem_jepa import CHORALE_INSTRUMENTS, StemJepaConfig

logger = logging.getLogger(__name__)

SECONDS_PER_QUARTER = 0.6  # 100 beats per minute
SPLITS = {"train": (0, 48), "test": (48, 72)}
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
SKIPPED_STEMS = ("mixture", "mix")
# harmonic amplitudes per chorale voice: flute-like, clarinet-like (odd), string-like (1/n), bassoon-like
TIMBRES = {
    "soprano": (1.0, 0.25, 0.1, 0.05),
    "alto": (1.0, 0.0, 0.45, 0.0, 0.25, 0.0, 0.12),
    "tenor": tuple(1.0 / n for n in range(1, 9)),
    "bass": (1.0, 0.8, 0.6, 0.45, 0.3, 0.2),
}
VOICE_GAIN = 0.25
ATTACK_S, RELEASE_S = 0.02, 0.05
# General MIDI programs (0-based) per chorale voice for the soundfont renderer: flute, oboe, viola, bassoon
GM_PROGRAMS = {"soprano": 73, "alto": 68, "tenor": 41, "bass": 70}
VELOCITY = 90
SOUNDFONT_PEAK = 0.5  # each soundfont stem is scaled to this peak (the additive voices peak near it too)
RENDERERS = ("soundfont", "additive")


@dataclass
class ScoreSong:
    """A multitrack song as notes: `voices[i]` lists (start_s, end_s, midi_pitch) of stem i."""

    name: str
    voice_names: list[str]
    voices: list[list[tuple[float, float, int]]]
    sample_rate: int
    key: int = -1
    instruments: list[int] = field(default_factory=list)
    renderer: str = "additive"

    def __post_init__(self):
        if self.renderer not in RENDERERS:
            raise ValueError(f"unknown renderer {self.renderer!r}; use one of {RENDERERS}")

    @property
    def num_samples(self) -> int:
        end = max(note[1] for voice in self.voices for note in voice)
        return int(math.ceil(end * self.sample_rate))

    @cached_property
    def stems(self) -> np.ndarray:
        """(S, num_samples) stems rendered by `self.renderer`, kept as float16 (rendered once: training revisits
        every chunk; the cache lives on the song, so it is keyed by its renderer)."""
        length, rate = self.num_samples, self.sample_rate
        named = zip(self.voice_names, self.voices, strict=True)
        if self.renderer == "soundfont":
            soundfont = soundfont_path()
            if soundfont is None:
                raise ImportError("the soundfont renderer needs tinysoundfont and pretty_midi: jepa-stem[soundfont]")
            stems = [render_soundfont(v, GM_PROGRAMS[n], length, rate, soundfont) for n, v in named]
        else:
            stems = [render_voice(v, TIMBRES[n], 0, length, rate) for n, v in named]
        return np.stack(stems).astype(np.float16)

    def segment(self, start: int, length: int) -> np.ndarray:
        out = np.zeros((len(self.voices), length), dtype=np.float32)
        part = self.stems[:, start : start + length]
        out[:, : part.shape[1]] = part
        return out


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


def harmonic_series(phase: np.ndarray, amplitudes: tuple[float, ...], max_harmonic: int) -> np.ndarray:
    """Σ_n a_n sin(n·phase) for n ≤ max_harmonic, by the recurrence sin(nx) = 2cos(x)sin((n−1)x) − sin((n−2)x)."""
    two_cos, previous, current = 2 * np.cos(phase), np.zeros_like(phase), np.sin(phase)
    wave = np.zeros_like(phase)
    for harmonic, amplitude in enumerate(amplitudes[:max_harmonic], start=1):
        if harmonic > 1:
            previous, current = current, two_cos * current - previous
        if amplitude:
            wave += amplitude * current
    return wave


def render_voice(
    notes: list[tuple[float, float, int]], timbre: tuple[float, ...], start: int, length: int, sample_rate: int
) -> np.ndarray:
    """Additive synthesis of the notes overlapping samples [start, start + length), with attack/release ramps."""
    out = np.zeros(length, dtype=np.float32)
    window_start, window_end = start / sample_rate, (start + length) / sample_rate
    for note_start, note_end, pitch in notes:
        if note_end <= window_start or note_start >= window_end:
            continue
        first = max(int(math.ceil(note_start * sample_rate)), start)
        last = min(int(math.ceil(note_end * sample_rate)), start + length)
        if last <= first:
            continue
        t = np.arange(first, last) / sample_rate - note_start
        frequency = 440.0 * 2.0 ** ((pitch - 69) / 12)
        wave = harmonic_series(2 * np.pi * frequency * t, timbre, int(sample_rate / 2 / frequency))
        duration = note_end - note_start
        envelope = np.minimum(1.0, np.minimum(t / ATTACK_S, (duration - t) / RELEASE_S)).clip(0.0)
        envelope *= np.exp(-0.6 * t)
        out[first - start : last - start] += (VOICE_GAIN / sum(timbre)) * 2 * wave * envelope
    return out


def soundfont_path() -> str | None:
    """The TimGM6mb.sf2 General MIDI soundfont inside pretty_midi, or None when tinysoundfont or pretty_midi is not
    importable (install `jepa-stem[soundfont]`)."""
    try:
        import pretty_midi
        import tinysoundfont  # noqa: F401
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")
    return path if os.path.isfile(path) else None


def chorale_renderer() -> str:
    """The chorale renderer: soundfont when tinysoundfont, pretty_midi and its soundfont are available, else
    additive."""
    return "soundfont" if soundfont_path() else "additive"


def render_soundfont(
    notes: list[tuple[float, float, int]], program: int, length: int, sample_rate: int, soundfont: str
) -> np.ndarray:
    """`length` mono float32 samples of the notes played offline by tinysoundfont with General MIDI `program`
    (0-based) of `soundfont`, at a fixed velocity, scaled to a peak of `SOUNDFONT_PEAK`."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=sample_rate)
    synth.program_select(0, synth.sfload(soundfont), 0, program)
    ons = [(round(start * sample_rate), 1, pitch) for start, _, pitch in notes]
    offs = [(round(end * sample_rate), 0, pitch) for _, end, pitch in notes]  # at equal times, offs go first
    out = np.zeros((length, 2), dtype=np.float32)
    position = 0
    for sample, on, pitch in sorted(ons + offs) + [(length, 0, -1)]:
        sample = min(sample, length)
        if sample > position:  # generate() gives interleaved stereo float32
            out[position:sample] = np.frombuffer(synth.generate(sample - position), np.float32).reshape(-1, 2)
            position = sample
        if on:
            synth.noteon(0, pitch, VELOCITY)
        elif pitch >= 0:
            synth.noteoff(0, pitch)
    mono = out.mean(axis=1)
    peak = np.abs(mono).max()
    return mono * (SOUNDFONT_PEAK / peak) if peak > 0 else mono


def cache_dir() -> Path:
    root = os.environ.get("JEPA_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "jepa"
    return Path(root) / "stem-jepa"


def _parse_chorale(path) -> dict | None:
    from music21 import corpus

    score = corpus.parse(path)
    if len(score.parts) != 4:
        return None
    voices = []
    for part in score.parts:
        notes = []
        for note in part.stripTies().flatten().notes:
            start = float(note.offset) * SECONDS_PER_QUARTER
            end = start + float(note.quarterLength) * SECONDS_PER_QUARTER
            notes += [(start, end, int(pitch.midi)) for pitch in note.pitches if end > start]
        if not notes:
            return None
        voices.append(notes)
    key = score.analyze("key")
    return {
        "name": Path(str(path)).stem,
        "key": key.tonic.pitchClass + (12 if key.mode == "minor" else 0),
        "voices": voices,
    }


def chorale_scores(count: int) -> list[dict]:
    """The first `count` four-part Bach chorales of music21's corpus as note lists (parsed once, then cached)."""
    path = cache_dir() / "bach_chorales_v1.json"
    cached = json.loads(path.read_text()) if path.is_file() else []
    if len(cached) >= count:
        return cached[:count]
    from music21 import corpus

    files = sorted(corpus.getComposer("bach"), key=str)
    done = {c["path"] for c in cached}
    logger.info("reading %d Bach chorales from the music21 corpus (once; cached in %s)", count, path.parent)
    for file in files:
        if len(cached) >= count:
            break
        if str(file.name) in done:
            continue
        parsed = _parse_chorale(file)
        if parsed is not None:
            cached.append({**parsed, "path": str(file.name)})
    if len(cached) < count:
        raise ValueError(f"the music21 corpus holds only {len(cached)} four-part Bach chorales, {count} requested")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cached))
    os.replace(tmp, path)
    return cached[:count]


def synthetic_scores(count: int, seed: int) -> list[dict]:
    """Four-voice progressions (I, IV, V, vi, ii chords; one per beat, cadence on V–I) in random keys."""
    rng = np.random.default_rng(seed)
    degrees = {0: (0, 4, 7), 1: (5, 9, 12), 2: (7, 11, 14), 3: (9, 12, 16), 4: (2, 5, 9)}
    ranges = [(60, 79), (55, 74), (48, 67), (40, 60)]
    scores = []
    for index in range(count):
        tonic = int(rng.integers(12))
        chords = [int(c) for c in rng.choice(5, size=30)] + [2, 0]
        voices = [[] for _ in ranges]
        for beat, chord in enumerate(chords):
            tones = [(tonic + t) % 12 for t in degrees[chord]]
            for voice, (low, high) in enumerate(ranges):
                pitch_class = tones[0] if voice == 3 else tones[int(rng.integers(3))]
                options = [p for p in range(low, high + 1) if p % 12 == pitch_class]
                start = beat * SECONDS_PER_QUARTER
                voices[voice].append((start, start + SECONDS_PER_QUARTER, int(rng.choice(options))))
        scores.append({"name": f"synthetic_{seed}_{index}", "key": tonic, "voices": voices})
    return scores


def default_songs(split: str, config: StemJepaConfig) -> list[ScoreSong]:
    """Chorales for a split ("train": 48, "test": 24 others), or the synthetic fallback without music21."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {list(SPLITS)}")
    missing = [name for name in CHORALE_INSTRUMENTS if name not in config.instrument_names]
    if missing:
        raise ValueError(
            f"the embedded chorale data has the stems {list(CHORALE_INSTRUMENTS)} but the config's instrument_names "
            f"{list(config.instrument_names)} lack {missing}; use the tiny or small preset, set instrument_names, "
            "or pass your own stems with --data"
        )
    first, last = SPLITS[split]
    try:
        scores = chorale_scores(last)[first:last]
    except ImportError:
        logger.warning("music21 is not installed: using synthetic four-voice progressions instead of Bach chorales")
        scores = synthetic_scores(last - first, seed=first)
    renderer = chorale_renderer()
    if renderer == "soundfont":
        logger.info("%s songs: rendering stems with tinysoundfont and pretty_midi's TimGM6mb.sf2", split)
    else:
        logger.warning(
            "%s songs: tinysoundfont or pretty_midi is not installed, rendering stems with the additive synthesizer "
            "(install jepa-stem[soundfont] for soundfont stems)",
            split,
        )
    return [
        ScoreSong(
            score["name"],
            list(CHORALE_INSTRUMENTS),
            [[tuple(note) for note in voice] for voice in score["voices"]],
            config.sample_rate,
            score["key"],
            [config.instrument_index(name) for name in CHORALE_INSTRUMENTS],
            renderer,
        )
        for score in scores
    ]


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
