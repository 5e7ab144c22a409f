"""Config defaults against the reference, and the log-mel front end."""

import librosa
import numpy as np
import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from stem_jepa import StemJepaConfig, StemJepaProcessor


def test_defaults_are_the_reference_values():
    config = StemJepaConfig()
    assert (config.sample_rate, config.n_fft, config.hop_length, config.n_mels) == (16_000, 400, 160, 80)
    assert (config.f_min, config.f_max, config.spec_mean, config.spec_std) == (50.0, 8000.0, -9.453, 3.569)
    assert config.grid_shape == (5, 50) and config.chunk_samples == 8 * 16_000
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (768, 12, 12)
    assert (config.predictor_type, config.pred_mlp_hidden_size, config.pred_mlp_num_hidden_layers) == ("mlp", 1024, 5)
    assert (config.pred_hidden_size, config.pred_num_hidden_layers, config.pred_num_attention_heads) == (512, 8, 16)
    assert (config.ema_momentum_start, config.ema_momentum_end) == (0.99995, 0.99999)
    assert config.loss_type == "norm_mse" and config.context_mode == "uniform" and config.silence_threshold == 0.1
    assert list(config.instrument_names) == ["bass", "drums", "other", "vocals"]
    assert StemJepaConfig.from_preset("base-transformer").predictor_type == "transformer"
    assert StemJepaConfig.from_preset("tiny").instrument_names == ["soprano", "alto", "tenor", "bass"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"predictor_type": "gru"}, "predictor_type"),
        ({"context_mode": "all"}, "context_mode"),
        ({"num_frames": 100}, "num_frames"),
        ({"instrument_names": ["bass", "Bass"]}, "duplicates"),
    ],
)
def test_bad_config_is_refused(overrides, message):
    with pytest.raises((ValueError, StrictDataclassClassValidationError), match=message):
        StemJepaConfig(**overrides)


def test_instrument_index_names_the_fix():
    config = StemJepaConfig()
    assert config.instrument_index("Vocals") == 3
    with pytest.raises(ValueError, match="instrument_names"):
        config.instrument_index("kazoo")


def test_log_mel_shape_and_peak_at_the_tone():
    config = StemJepaConfig.from_preset("tiny")
    processor = StemJepaProcessor.from_config(config)
    t = np.arange(config.chunk_samples) / config.sample_rate
    tone = 0.5 * np.sin(2 * np.pi * 1000.0 * t)
    spec = processor(tone, sampling_rate=config.sample_rate)["input_values"]
    assert spec.shape == (1, 1, 80, config.num_frames)
    centres = librosa.mel_frequencies(config.n_mels + 2, fmin=config.f_min, fmax=config.f_max)[1:-1]
    peak = int(spec[0, 0].mean(dim=-1).argmax())
    assert abs(centres[peak] - 1000.0) < 60.0
    expected_power = (processor.mel_filters @ torch.stft(
        torch.tensor(tone, dtype=torch.float32), 400, 160, 400, torch.hann_window(400), return_complex=True
    ).abs().pow(2))[:, 100]  # fmt: skip
    expected = ((expected_power + config.log_eps).log() - config.spec_mean) / config.spec_std
    torch.testing.assert_close(spec[0, 0, :, 100], expected)
    np.testing.assert_allclose(processor.mel_filters.numpy(), librosa.filters.mel(sr=16_000, n_fft=400, n_mels=80,
                               fmin=50.0, fmax=8000.0), rtol=1e-6)  # fmt: skip


def test_silence_maps_to_the_log_floor():
    config = StemJepaConfig.from_preset("tiny")
    spec = StemJepaProcessor.from_config(config).spectrogram(np.zeros(config.chunk_samples))
    floor = (np.log(config.log_eps) - config.spec_mean) / config.spec_std
    torch.testing.assert_close(spec, torch.full_like(spec, floor))


def test_track_chunks_follow_the_reference_split():
    config = StemJepaConfig.from_preset("tiny")  # 256-frame chunks
    processor = StemJepaProcessor.from_config(config)
    wave = np.random.default_rng(0).normal(size=600 * config.hop_length) * 0.1  # 601 frames
    full, rest = processor.chunks(wave)
    assert full.shape == (2, 1, 80, 256) and rest.shape == (1, 1, 80, 80)  # 601 → 592 = 2·256 + 80
    torch.testing.assert_close(
        torch.cat([full[0, 0], full[1, 0], rest[0, 0]], dim=-1), processor.log_mel(wave)[0, 0, :, :592]
    )


def test_bad_waveforms_are_refused():
    processor = StemJepaProcessor.from_config(StemJepaConfig.from_preset("tiny"))
    with pytest.raises(ValueError, match="mono waveforms"):
        processor(np.zeros((2, 2, 4000)))
    with pytest.raises(ValueError, match="NaN"):
        processor(np.full(4000, np.nan))
    with pytest.raises(ValueError, match="shorter than n_fft"):
        processor(np.zeros(100))


def test_processor_saves_as_a_transformers_feature_extractor(tmp_path):
    import stem_jepa  # noqa: F401  (registers the processor with the Auto classes)
    from transformers import AutoFeatureExtractor, AutoProcessor

    config = StemJepaConfig.from_preset("tiny", spec_mean=-8.0)
    processor = StemJepaProcessor.from_config(config)
    processor.save_pretrained(tmp_path)
    config.save_pretrained(tmp_path)
    saved = (tmp_path / "preprocessor_config.json").read_text()
    assert "mel_filters" not in saved and '"spec_mean": -8.0' in saved
    for auto in (AutoProcessor, AutoFeatureExtractor):
        reloaded = auto.from_pretrained(tmp_path)
        assert type(reloaded) is StemJepaProcessor and reloaded.to_dict() == processor.to_dict()
    wave = np.random.default_rng(0).normal(size=config.chunk_samples).astype(np.float32) * 0.1
    batch = reloaded([wave, wave], sampling_rate=16_000, return_tensors="pt")
    assert list(batch) == ["input_values"] and batch["input_values"].shape == (2, 1, 80, 256)
    torch.testing.assert_close(batch["input_values"][0], processor.spectrogram(wave)[0])
    slow = reloaded(np.interp(np.arange(0, len(wave), 2), np.arange(len(wave)), wave), sampling_rate=8000)
    assert slow["input_values"].shape == (1, 1, 80, 256)  # resampled to 16 kHz
