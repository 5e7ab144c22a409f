"""The embedded default data of Stem-JEPA: four-voice (SATB) Bach chorales as note lists, rendered voice by voice.

The chorales that music21 ships as scores are read once into note lists (cached as JSON under `$JEPA_CACHE_DIR` or
`~/.cache/jepa/stem-jepa`) and rendered voice by voice (each song once, then kept in memory): with tinysoundfont and
the General MIDI soundfont TimGM6mb.sf2 that ships inside pretty_midi (the `jepa-stem[soundfont]` extra; one GM
program per voice, `GM_PROGRAMS`), else by a small additive synthesizer with one timbre per voice (`TIMBRES`).
Without music21 (or its corpus), random four-voice cadential progressions are rendered instead.
"""

import json
import logging
import math
import os
import threading
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

import numpy as np
from jepa_core.overrides import ConfigFieldError

from .configuration_stem_jepa import CHORALE_INSTRUMENTS, StemJepaConfig

logger = logging.getLogger(__name__)

SECONDS_PER_QUARTER = 0.6  # 100 beats per minute
SPLITS = {"train": (0, 48), "test": (48, 72)}
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
# silence rendered before each soundfont render: TinySoundFont ends stopped voices in 10 ms (its fast release)
FLUSH_S = 0.05
_SYNTH_LOCK = threading.Lock()  # one render at a time on a shared synthesizer


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
    synth, soundfont_id = _soundfont_synth(soundfont, sample_rate)
    with _SYNTH_LOCK:
        synth.sounds_off()  # the previous render's voices end within the flush: the output is a fresh synth's
        synth.generate(math.ceil(FLUSH_S * sample_rate))
        synth.program_select(0, soundfont_id, 0, program)
        return _play(synth, notes, length, sample_rate)


@cache
def _soundfont_synth(soundfont: str, sample_rate: int) -> tuple:
    """One synthesizer per (soundfont, rate), loaded once: loading took 60 % of a fresh synthesizer's render."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=sample_rate)
    return synth, synth.sfload(soundfont)


def _play(synth, notes: list[tuple[float, float, int]], length: int, sample_rate: int) -> np.ndarray:
    ons = [(round(start * sample_rate), 1, pitch) for start, _, pitch in notes]
    offs = [(round(end * sample_rate), 0, pitch) for _, end, pitch in notes]  # at equal times, offs go first
    mono = np.zeros(length, dtype=np.float32)
    position = 0
    for sample, on, pitch in sorted(ons + offs) + [(length, 0, -1)]:
        sample = min(sample, length)
        if sample > position:  # generate() gives interleaved stereo float32; mono is their mean
            stereo = np.frombuffer(synth.generate(sample - position), np.float32)
            mono[position:sample] = (stereo[0::2] + stereo[1::2]) * np.float32(0.5)
            position = sample
        if on:
            synth.noteon(0, pitch, VELOCITY)
        elif pitch >= 0:
            synth.noteoff(0, pitch)
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
        raise ConfigFieldError(
            f"the embedded chorale data has the stems {list(CHORALE_INSTRUMENTS)} but the config's instrument_names "
            f"{list(config.instrument_names)} lack {missing}; use the tiny or small preset, pass your own stems "
            "with --data, or name the chorale voices",
            "instrument_names",
            list(CHORALE_INSTRUMENTS),
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
