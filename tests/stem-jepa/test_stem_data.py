"""Loaders: stem folders and multichannel files written here, the chorale route and the synthetic fallback."""

import io
import json
import sys

import numpy as np
import pytest
import soundfile
import torch
from stem_jepa import StemJepaConfig, chorales
from stem_jepa.chorales import (
    GM_PROGRAMS,
    ScoreSong,
    chorale_renderer,
    chorale_scores,
    default_songs,
    render_soundfont,
    render_voice,
    synthetic_scores,
)
from stem_jepa.data import StemChunks, load_dataset, load_songs, songs_from_dataset

RATE = 16_000


def config(**overrides):
    return StemJepaConfig.from_preset("base", num_frames=32, **overrides)  # bass/drums/other/vocals, 0.32 s chunks


def tone(freq, seconds=1.0, rate=RATE):
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def write_song(folder, stems, rate=RATE):
    folder.mkdir(parents=True)
    for name, audio in stems.items():
        soundfile.write(folder / f"{name}.wav", audio, rate)


def test_stem_folders_and_multichannel_files(tmp_path):
    write_song(tmp_path / "song_a", {"bass": tone(110), "vocals": tone(440), "mixture": tone(220)})
    soundfile.write(tmp_path / "song_b.wav", np.stack([tone(f) for f in (55, 0.0, 330, 660)], axis=1), RATE)
    songs = load_songs(tmp_path, config())
    assert [s.name for s in songs] == ["song_a", "song_b"]
    assert songs[0].instruments == [0, 3] and songs[1].instruments == [0, 1, 2, 3]  # mixture skipped
    np.testing.assert_allclose(songs[0].stems[1], tone(440), atol=1e-4)
    dataset = load_dataset(str(tmp_path), "train", config())
    assert len(dataset) == 2 * len(range(0, RATE - 5120 + 1, 2560))
    item = dataset[0]
    assert item["stems"].shape == (2, 5120) and item["instruments"].tolist() == [0, 3]


def test_train_and_test_subfolders_are_splits_and_other_rates_are_resampled(tmp_path):
    write_song(tmp_path / "train" / "one", {"bass": tone(110, 1.0, 8000), "drums": tone(200, 1.0, 8000)}, 8000)
    write_song(tmp_path / "test" / "two", {"other": tone(300), "drums": tone(200)})
    train = load_dataset(str(tmp_path), "train", config()).songs
    test = load_dataset(str(tmp_path), "test", config()).songs
    assert [s.name for s in train] == ["one"] and [s.name for s in test] == ["two"]
    assert train[0].stems.shape == (2, RATE)  # 8 kHz → 16 kHz
    spectrum = np.abs(np.fft.rfft(train[0].stems[0]))
    assert abs(np.argmax(spectrum) - 110) <= 1


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: write_song(d / "s", {"bass": tone(110), "drums": tone(200, 0.5)}), r"truncated.* drums.wav \(0.50"),
        (lambda d: write_song(d / "s", {"bass": tone(110)}), "at least 2 stems"),
        (lambda d: write_song(d / "s", {"bass": tone(110), "kazoo": tone(200)}), "unknown instrument 'kazoo'"),
        (lambda d: (write_song(d / "s", {"bass": tone(110)}), (d / "s" / "drums.wav").write_bytes(b"junk")),
         "cannot read the audio file"),
        (lambda d: soundfile.write(d / "x.wav", np.zeros((RATE, 3), np.float32), RATE), "3 channels"),
        (lambda d: None, "holds no songs"),
    ],
)  # fmt: skip
def test_bad_folders_get_clear_errors(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(ValueError, match=message):
        load_songs(tmp_path, config())


def test_different_sample_rates_in_one_song_are_refused(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    soundfile.write(folder / "bass.wav", tone(110), RATE)
    soundfile.write(folder / "drums.wav", tone(110, 2.0, 8000), 8000)
    with pytest.raises(ValueError, match="different sample rates"):
        load_songs(tmp_path, config())
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_songs(tmp_path / "missing", config())


def test_render_voice_plays_the_notes_in_time():
    notes = [(0.0, 0.5, 69), (0.5, 1.0, 81)]  # A4 then A5
    audio = render_voice(notes, (1.0,), 0, RATE, RATE)
    first, second = np.abs(np.fft.rfft(audio[1000:7000])), np.abs(np.fft.rfft(audio[9000:15000]))
    assert abs(np.argmax(first) * RATE / 6000 - 440) < 5 and abs(np.argmax(second) * RATE / 6000 - 880) < 5
    window = render_voice(notes, (1.0,), 4000, 8000, RATE)
    np.testing.assert_allclose(window, audio[4000:12000], atol=1e-5)
    assert np.abs(audio).max() > 0.1  # non-silent by the reference's threshold


def soundfont():
    pytest.importorskip("tinysoundfont", reason="the soundfont renderer needs jepa-stem[soundfont]")
    path = chorales.soundfont_path()
    assert path is not None and path.endswith("TimGM6mb.sf2")
    return path


def test_soundfont_renders_a_note_in_time_at_its_pitch():
    audio = render_soundfont([(0.25, 0.75, 69)], GM_PROGRAMS["soprano"], RATE, RATE, soundfont())  # A4 on a flute
    assert audio.dtype == np.float32 and audio.shape == (RATE,)
    assert np.abs(audio[:3900]).max() == 0 and np.abs(audio[4100:12000]).max() > 0.4  # silent until the onset
    spectrum = np.abs(np.fft.rfft(audio[5000:11000]))
    assert abs(np.argmax(spectrum) * RATE / 6000 - 440) < 5


def test_soundfont_instruments_have_distinct_spectra():
    path = soundfont()
    spectra = []
    for program in GM_PROGRAMS.values():
        spectrum = np.abs(np.fft.rfft(render_soundfont([(0.0, 1.0, 69)], program, RATE, RATE, path)[4000:10000]))
        spectra.append(spectrum / np.linalg.norm(spectrum))
    similarity = np.stack(spectra) @ np.stack(spectra).T
    assert len(set(GM_PROGRAMS.values())) == 4 and similarity[~np.eye(4, dtype=bool)].max() < 0.95


def test_soundfont_renders_do_not_depend_on_earlier_ones():
    """The renders share one loaded synthesizer: a render equals a fresh synthesizer's, whatever ran before it
    (here notes still sounding at the end of the previous render, on another program)."""
    path = soundfont()
    scores = synthetic_scores(2, seed=3)
    first, second = ([tuple(note) for note in score["voices"][0]] for score in scores)
    chorales._soundfont_synth.cache_clear()
    alone = render_soundfont(second, GM_PROGRAMS["alto"], RATE * 4, RATE, path)
    chorales._soundfont_synth.cache_clear()
    render_soundfont(first, GM_PROGRAMS["bass"], RATE * 2, RATE, path)  # ends mid-chord: voices still sound
    after = render_soundfont(second, GM_PROGRAMS["alto"], RATE * 4, RATE, path)
    assert np.abs(alone).max() > 0.4 and np.array_equal(after, alone)


def no_parsing(monkeypatch):
    monkeypatch.setattr(chorales, "chorale_scores", lambda count: synthetic_scores(count, seed=0))


def test_default_songs_use_the_soundfont(monkeypatch):
    path = soundfont()
    no_parsing(monkeypatch)
    song = default_songs("test", StemJepaConfig.from_preset("tiny"))[0]
    assert chorale_renderer() == "soundfont" and song.renderer == "soundfont"
    stems = song.stems.astype(np.float32)
    assert stems.shape == (4, song.num_samples)  # one length for all voices of a song
    np.testing.assert_allclose(np.abs(stems).max(axis=1), 0.5, atol=1e-3)
    bass = render_soundfont(song.voices[3], GM_PROGRAMS["bass"], song.num_samples, RATE, path)
    np.testing.assert_allclose(stems[3], bass, atol=1e-3)


def test_default_songs_fall_back_to_the_additive_synthesizer(monkeypatch):
    no_parsing(monkeypatch)
    monkeypatch.setitem(sys.modules, "tinysoundfont", None)  # import fails
    song = default_songs("test", StemJepaConfig.from_preset("tiny"))[0]
    assert chorale_renderer() == "additive" and song.renderer == "additive"
    additive = render_voice(song.voices[3], chorales.TIMBRES["bass"], 0, song.num_samples, RATE)
    np.testing.assert_allclose(song.stems[3].astype(np.float32), additive, atol=1e-3)
    assert song.stems.shape == (4, song.num_samples)
    with pytest.raises(ValueError, match="unknown renderer 'midi'"):
        ScoreSong("x", ["bass"], [[(0.0, 1.0, 40)]], RATE, renderer="midi")


def test_synthetic_fallback_is_four_voices_in_their_ranges():
    scores = synthetic_scores(3, seed=0)
    assert len(scores) == 3 and all(len(s["voices"]) == 4 for s in scores)
    lows = [min(n[2] for n in s["voices"][3]) for s in scores]
    highs = [max(n[2] for n in s["voices"][0]) for s in scores]
    assert max(lows) <= 60 and min(highs) >= 60
    assert synthetic_scores(3, seed=0) == scores and synthetic_scores(3, seed=1) != scores


def test_bach_chorales_are_read_from_music21_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("JEPA_CACHE_DIR", str(tmp_path))
    scores = chorale_scores(2)
    assert len(scores) == 2 and all(len(s["voices"]) == 4 for s in scores)
    soprano, bass = scores[0]["voices"][0], scores[0]["voices"][3]
    assert np.mean([n[2] for n in soprano]) > np.mean([n[2] for n in bass]) + 12
    assert 0 <= scores[0]["key"] < 24
    cached = json.loads((tmp_path / "stem-jepa" / "bach_chorales_v1.json").read_text())
    assert [c["name"] for c in cached] == [s["name"] for s in scores]
    song = ScoreSong("c", list(GM_PROGRAMS), scores[0]["voices"], RATE, renderer=chorale_renderer())
    assert song.stems.shape == (4, song.num_samples) and song.num_samples > 10 * RATE  # equal-length stems
    assert (np.abs(song.stems.astype(np.float32)).max(axis=1) > 0.1).all()  # every voice sounds


def test_default_songs_need_the_chorale_instruments(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="instrument_names"):
        default_songs("train", config())
    with pytest.raises(ValueError, match="unknown split"):
        default_songs("valid", StemJepaConfig.from_preset("tiny"))


def test_chunks_of_a_short_song_are_zero_padded():
    from stem_jepa.data import AudioSong

    song = AudioSong("short", np.ones((2, 1000), np.float32), [0, 1])
    dataset = StemChunks([song], 2560)
    assert len(dataset) == 1
    stems = dataset[0]["stems"]
    assert torch.equal(stems[:, :1000], torch.ones(2, 1000)) and stems[:, 1000:].abs().sum() == 0


def wav_bytes(audio, rate=RATE):
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format="WAV")
    return {"bytes": buffer.getvalue(), "path": None}


def test_datasets_rows_are_songs_with_one_column_per_instrument(tmp_path):
    import datasets

    table = datasets.Dataset.from_dict(
        {
            "name": ["one", "two"],
            "sampling_rate": [RATE, 8000],
            "bass": [tone(110), tone(110, 1.0, 8000)],
            "drums": [tone(200), None],  # a missing stem
            "vocals": [tone(440), tone(440, 1.0, 8000)],
            "mixture": [tone(1), tone(1, 1.0, 8000)],  # not an instrument: ignored
        }
    )
    one, two = songs_from_dataset(table, config())
    assert (one.name, one.instruments, two.name, two.instruments) == ("one", [0, 1, 3], "two", [0, 3])
    np.testing.assert_allclose(one.stems[2], tone(440), atol=1e-6)
    assert two.stems.shape == (2, RATE)  # 8 kHz → 16 kHz
    assert abs(np.argmax(np.abs(np.fft.rfft(two.stems[1]))) - 440) <= 1

    audio = datasets.Dataset.from_dict({"bass": [wav_bytes(tone(110))], "other": [wav_bytes(tone(300))]})
    audio = audio.cast_column("bass", datasets.Audio()).cast_column("other", datasets.Audio())
    (song,) = songs_from_dataset(audio, config())  # Audio columns are read without torchcodec
    assert song.name == "row 0" and song.instruments == [0, 2]
    np.testing.assert_allclose(song.stems[1], tone(300), atol=1e-4)

    datasets.DatasetDict({"train": table, "test": audio}).save_to_disk(tmp_path / "saved")
    test = load_dataset(str(tmp_path / "saved"), "test", config())
    assert [s.name for s in test.songs] == ["row 0"] and test[0]["stems"].shape == (2, 5120)
    table.save_to_disk(tmp_path / "flat")  # one split: used for both
    assert len(load_dataset(str(tmp_path / "flat"), "train", config()).songs) == 2


@pytest.mark.parametrize(
    "columns, message",
    [
        ({"bass": [tone(110)], "piano": [tone(220)]}, "needs one audio column per instrument"),
        ({"bass": [tone(110)], "drums": [None]}, "needs at least 2 stems"),
        ({"bass": [tone(110)], "drums": [tone(110, 0.5)]}, "truncated stem\\(s\\) drums \\(0.50 s\\)"),
    ],
)
def test_bad_datasets_get_clear_errors(columns, message):
    import datasets

    with pytest.raises(ValueError, match=message):
        songs_from_dataset(datasets.Dataset.from_dict(columns), config())
