"""Kaldi fbank features: frame counts, mel geometry, resampling, files of every format, and bad input."""

import math

import numpy as np
import pytest
import soundfile
import torch
from ajepa import AudioJepaConfig, AudioJepaProcessor
from ajepa.processor_ajepa import kaldi_mel_filters

RATE = 16000


def sine(freq: float, seconds: float, rate: int = RATE) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def kaldi_mel(freq: float) -> float:
    return 1127.0 * math.log1p(freq / 700.0)


def test_ten_seconds_give_998_frames_padded_to_1024():
    processor = AudioJepaProcessor()
    fbank = processor.fbank(torch.from_numpy(sine(1000, 10.0)))
    assert fbank.shape == (998, 128)  # 1 + (160000 - 400) // 160, Kaldi snip_edges
    features = processor(sine(1000, 10.0), sampling_rate=RATE)["input_values"]
    assert features.shape == (1, 1024, 128)
    assert torch.all(features[0, 998:] == 0) and features[0, :998].abs().sum() > 0
    assert processor(sine(1000, 12.0), sampling_rate=RATE)["input_values"].shape == (1, 1024, 128)  # cropped


def test_mel_filters_peak_at_kaldi_centres():
    filters = kaldi_mel_filters(128, 512, RATE, 20.0)
    assert filters.shape == (128, 257) and torch.all(filters[:, -1] == 0)
    assert filters.max() <= 1 and filters.min() == 0
    delta = (kaldi_mel(8000) - kaldi_mel(20)) / 129
    for k in (40, 80, 120):
        centre_hz = 700 * math.expm1((kaldi_mel(20) + (k + 1) * delta) / 1127)
        assert abs(int(filters[k].argmax()) * RATE / 512 - centre_hz) <= RATE / 512


def test_sine_energy_sits_in_the_mel_bin_of_its_frequency():
    processor = AudioJepaProcessor()
    fbank = processor.fbank(torch.from_numpy(sine(1000, 1.0)))
    filters = kaldi_mel_filters(128, 512, RATE, 20.0)
    expected_bin = int(filters[:, round(1000 * 512 / RATE)].argmax())
    assert int(fbank.mean(0).argmax()) == expected_bin
    assert fbank.mean(0).max() - fbank.mean(0).median() > 10  # a clear peak in log power


def test_resampling_and_downmix_match_native_audio():
    processor = AudioJepaProcessor()
    native = processor(sine(440, 2.0), sampling_rate=RATE)["input_values"][0]
    resampled = processor(sine(440, 2.0, 44100), sampling_rate=44100)["input_values"][0]
    stereo = np.stack([sine(440, 2.0), sine(440, 2.0)], axis=1)  # (samples, channels)
    assert (native - resampled)[:190].abs().mean() < 0.05
    # a 2-D array is a stack of clips, never silently averaged; (samples, channels) is refused as ambiguous
    stack = processor(stereo.T, sampling_rate=RATE)["input_values"]
    assert stack.shape[0] == 2 and torch.allclose(stack[0], native) and torch.allclose(stack[1], native)
    with pytest.raises(ValueError, match="looks like \\(samples, channels\\)"):
        processor(stereo, sampling_rate=RATE)
    # datasets arrays are (channels, samples), averaged to mono explicitly
    mixed = processor({"array": stereo.T, "sampling_rate": RATE})["input_values"]
    assert mixed.shape[0] == 1 and torch.allclose(mixed[0], native)
    # float audio holding int16-scale values is rescaled, not read as 30 000× louder audio
    whole = np.round(sine(440, 2.0) * 32767).astype(np.float32)
    scaled = processor(whole, sampling_rate=RATE)["input_values"][0]
    assert torch.equal(scaled, processor(whole / np.float32(32768), sampling_rate=RATE)["input_values"][0])
    assert (scaled - native).abs().mean() < 0.05  # quantisation noise lifts the silent bins
    with pytest.raises(ValueError, match="float audio must lie in"):
        processor(sine(440, 2.0) * 50.5, sampling_rate=RATE)


def test_normalisation_uses_mean_and_twice_std_and_can_be_fitted():
    clips = [sine(300 * (i + 1), 0.975) for i in range(4)]  # exactly 96 frames
    processor = AudioJepaProcessor(target_length=96)
    mean, std = processor.compute_normalization(clips, RATE)
    raw = processor.fbank(torch.from_numpy(clips[0]))
    fitted = AudioJepaProcessor(target_length=96, fbank_mean=mean, fbank_std=std)
    assert torch.allclose(fitted.features(clips[0], RATE)[:96], (raw - mean) / (2 * std), atol=1e-5)
    all_features = fitted(clips, RATE)["input_values"]
    assert abs(float(all_features.mean())) < 1e-3 and abs(float(all_features.std()) - 0.5) < 1e-2


def test_batched_and_single_clip_features_agree():
    processor = AudioJepaProcessor(target_length=96)
    clips = [sine(500, 1.0), sine(900, 1.0)]
    batch = processor(clips, RATE)["input_values"]
    assert torch.allclose(batch[1], processor.features(clips[1], RATE), atol=1e-5)
    ragged = processor([sine(500, 1.0), sine(900, 0.7)], RATE)["input_values"]
    assert ragged.shape == (2, 96, 128) and torch.all(ragged[1, 68:] == 0)  # 1 + (11200 - 400) // 160 = 68


@pytest.mark.parametrize(
    ("audio", "kwargs", "message"),
    [
        (np.zeros(0, np.float32), {"sampling_rate": RATE}, "empty"),
        (np.zeros(RATE, np.float32), {"sampling_rate": RATE}, "silent"),
        (np.full(RATE, np.nan, np.float32), {"sampling_rate": RATE}, "NaN"),
        (sine(440, 0.1), {"sampling_rate": RATE}, "shorter than one 16-frame patch"),
        (sine(440, 1.0), {}, "pass sampling_rate"),
        (np.zeros((2, 3, 4), np.float32), {"sampling_rate": RATE}, "1-D"),
    ],
)
def test_bad_audio_gets_a_clear_error(audio, kwargs, message):
    with pytest.raises(ValueError, match=message):
        AudioJepaProcessor()(audio, **kwargs)


def test_integer_arrays_are_scaled_like_files():
    processor = AudioJepaProcessor(target_length=96)
    expected = processor.features(sine(700, 1.0), RATE)
    int16 = np.round(sine(700, 1.0) * 32768).astype(np.int16)
    uint8 = np.round(sine(700, 1.0) * 128 + 128).clip(0, 255).astype(np.uint8)  # 8-bit PCM is unsigned
    assert (processor.features(int16, RATE) - expected).abs().mean() < 0.05
    assert int(processor.features(uint8, RATE).mean(0).argmax()) == int(expected.mean(0).argmax())
    assert abs(float(processor.features(uint8, RATE).mean(0).max() - expected.mean(0).max())) < 1e-2


def test_strict_sample_rate_and_silence_opt_out():
    with pytest.raises(ValueError, match="expects 16000 Hz and resample=False"):
        AudioJepaProcessor(resample=False)(sine(440, 1.0, 22050), sampling_rate=22050)
    silent = AudioJepaProcessor(silence_threshold=0.0, target_length=96)(np.zeros(RATE, np.float32), RATE)
    assert torch.isfinite(silent["input_values"]).all()


@pytest.mark.parametrize(
    ("suffix", "subtype", "tolerance"), [(".wav", "PCM_16", 0.05), (".flac", "PCM_24", 1e-4), (".wav", "PCM_U8", 1.0)]
)
def test_audio_files_load_like_arrays(tmp_path, suffix, subtype, tolerance):
    processor = AudioJepaProcessor(target_length=96)
    path = tmp_path / f"clip{suffix}"
    stereo = np.stack([sine(700, 1.0, 22050), sine(700, 1.0, 22050)], axis=1)
    soundfile.write(path, stereo, 22050, subtype=subtype)
    expected, loaded = processor.features(sine(700, 1.0, 22050), 22050), processor.load(path)
    assert (loaded - expected).abs().mean() < tolerance  # quantisation noise lifts the silent bins
    assert loaded.mean(0).argmax() == expected.mean(0).argmax()
    assert abs(loaded.mean(0).max() - expected.mean(0).max()) < 1e-3


def test_mp3_file_loads(tmp_path):
    path = tmp_path / "clip.mp3"
    soundfile.write(path, sine(700, 1.0), RATE, format="MP3")
    features = AudioJepaProcessor(target_length=96).load(path)
    expected_bin = int(kaldi_mel_filters(128, 512, RATE, 20.0)[:, round(700 * 512 / RATE)].argmax())
    assert features.shape == (96, 128) and int(features[10:80].mean(0).argmax()) == expected_bin


def test_unreadable_truncated_and_silent_files_are_named(tmp_path):
    processor = AudioJepaProcessor()
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    truncated = tmp_path / "cut.wav"
    soundfile.write(truncated, sine(440, 1.0), RATE)
    truncated.write_bytes(truncated.read_bytes()[:30])
    silent = tmp_path / "silent.flac"
    soundfile.write(silent, np.zeros(RATE, np.float32), RATE)
    for path, message in ((text, "cannot be read as audio"), (truncated, "truncated"), (silent, "silent")):
        with pytest.raises(ValueError, match=message) as error:
            processor.load(path)
        assert str(path) in str(error.value)


def test_processor_saves_loads_and_follows_the_config(tmp_path):
    config = AudioJepaConfig.from_preset("tiny", fbank_mean=-3.0, fbank_std=2.0)
    processor = AudioJepaProcessor.from_config(config)
    assert (processor.target_length, processor.fbank_mean, processor.fbank_std) == (128, -3.0, 2.0)
    processor.save_pretrained(tmp_path)
    reloaded = AudioJepaProcessor.from_pretrained(tmp_path)
    clip = sine(440, 1.3)
    assert torch.equal(reloaded(clip, RATE)["input_values"], processor(clip, RATE)["input_values"])
