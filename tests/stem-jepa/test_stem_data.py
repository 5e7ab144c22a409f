"""Loaders: stem folders and multichannel files written here, the chorale route and the synthetic fallback."""

import json

import numpy as np
import pytest
import soundfile
import torch
from stem_jepa import StemJepaConfig
from stem_jepa.data import (
    StemChunks,
    chorale_scores,
    default_songs,
    load_dataset,
    load_songs,
    render_voice,
    synthetic_scores,
)

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
        (lambda d: write_song(d / "s", {"bass": tone(110), "drums": tone(200, 0.5)}), "different lengths"),
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
