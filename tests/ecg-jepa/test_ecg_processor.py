"""EcgJepaProcessor: resampling, filtering, lead order, NaN repair, normalisation, clear errors."""

import numpy as np
import pytest
import torch
from ecg_jepa import STANDARD_LEADS, EcgJepaProcessor, EcgSignalError
from transformers import AutoFeatureExtractor, BatchFeature


def sines(fs: float, seconds: float = 2.0, freq: float = 5.0) -> np.ndarray:
    t = np.arange(int(fs * seconds)) / fs
    return np.stack([(i + 1) * np.sin(2 * np.pi * freq * t) for i in range(12)])


def unit_processor(**kwargs) -> EcgJepaProcessor:
    return EcgJepaProcessor(lead_mean=[0.0] * 12, lead_std=[1.0] * 12, **kwargs)


def test_resamples_to_500_hz_keeping_the_waveform():
    out = unit_processor(clip_value=100).process(sines(250), 250)
    assert out.shape == (12, 1000) and out.dtype == torch.float32
    expected = torch.from_numpy(sines(500)).float()
    torch.testing.assert_close(out, expected, atol=1e-3, rtol=0)  # FFT resampling of a periodic sine is exact


def test_reorders_leads_by_name_case_insensitively():
    signal = sines(500) * np.arange(1, 13)[:, None]
    permutation = np.random.default_rng(0).permutation(12)
    names = [STANDARD_LEADS[i].upper() for i in permutation]
    processor = unit_processor(clip_value=1000)
    torch.testing.assert_close(processor.process(signal[permutation], 500, names), processor.process(signal, 500))


def test_interpolates_nan_linearly():
    signal = np.tile(np.linspace(0.0, 1.0, 1000), (12, 1))
    damaged = signal.copy()
    damaged[3, 100:200] = np.nan
    damaged[5, :10] = np.nan
    expected = signal.copy()
    expected[5, :10] = signal[5, 10]  # leading NaN take the nearest finite value
    torch.testing.assert_close(unit_processor().process(damaged, 500), torch.from_numpy(expected).float())


def test_fit_standardises_each_lead_clips_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    records = [rng.normal(loc=np.arange(12)[:, None], scale=np.arange(1, 13)[:, None], size=(12, 5000))
               for _ in range(4)]  # fmt: skip
    processor = EcgJepaProcessor().fit(records, 500)
    np.testing.assert_allclose(processor.lead_mean, np.arange(12), atol=0.3)  # SE ≤ 12/√20000
    np.testing.assert_allclose(processor.lead_std, np.arange(1, 13), rtol=0.02)
    out = processor.process(records[0], 500)
    assert abs(out.mean().item()) < 0.05 and abs(out.std().item() - 1) < 0.05
    # the clip bound is fitted: clip_margin (2) × the largest per-lead 99.9th percentile of |z|, at least 5
    stacked = np.concatenate(records, axis=1)
    z = (stacked - stacked.mean(1, keepdims=True)) / stacked.std(1, keepdims=True)
    expected = max(5.0, 2 * np.quantile(np.abs(z), 0.999, axis=1).max())
    assert processor.clip_value == pytest.approx(expected, rel=1e-9)
    assert 6.0 < processor.clip_value < 7.5  # Gaussian leads: 2 × 3.29 (the 99.9th percentile of |z|), not 5
    spiky = records[0].copy()
    spiky[0, 0], spiky[1, 0] = 1e6, -1e6
    # an artefact on leads I and II is clipped to the bound; z = 6 (above the paper's ±5, below the bound) is kept
    spiky[2, 0] = processor.lead_mean[2] + 6 * processor.lead_std[2]
    out = processor.process(spiky, 500)
    assert out[0, 0].item() == pytest.approx(processor.clip_value) and out[0, 0].item() == out.abs().max().item()
    assert out[1, 0].item() == pytest.approx(-processor.clip_value)
    assert out[2, 0].item() == pytest.approx(6.0, abs=1e-5)
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "preprocessor_config.json").is_file()
    reloaded = EcgJepaProcessor.from_pretrained(tmp_path)
    assert reloaded.to_dict() == processor.to_dict() and reloaded.lead_mean == processor.lead_mean
    auto = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(auto, EcgJepaProcessor) and auto.to_dict() == processor.to_dict()
    torch.testing.assert_close(reloaded.process(records[1], 500), processor.process(records[1], 500))


def test_optional_highpass_removes_baseline_drift():
    t = np.arange(5000) / 500
    drift = np.tile(2.0 + 0.5 * np.sin(2 * np.pi * 0.05 * t), (12, 1))
    signal = drift + sines(500, 10, 10)
    raw = unit_processor(clip_value=100).process(signal, 500)
    filtered = unit_processor(clip_value=100, highpass_hz=0.5).process(signal, 500)
    assert abs(raw.mean().item()) > 1.5
    middle, wave = filtered[:, 1000:-1000], torch.from_numpy(sines(500, 10, 10)[:, 1000:-1000]).float()
    assert abs(middle.mean().item()) < 0.1  # the 2 mV offset and the 0.05 Hz drift are gone
    assert torch.corrcoef(torch.stack([middle.flatten(), wave.flatten()]))[0, 1] > 0.99  # the 10 Hz wave stays


@pytest.mark.parametrize(
    ("signal", "kwargs", "message"),
    [
        (sines(500)[:8], {}, "has 8 leads but the model needs 12"),
        (sines(500), {"sampling_rate": None}, "sample rate is missing"),
        (sines(500), {"lead_names": ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "X"]},
         "lacks lead"),
        (sines(500).T, {}, "looks like \\(samples, leads\\)"),
        (sines(500)[:, :10], {}, "shorter than one 25-sample patch"),
        (sines(500)[0], {}, "expected a \\(leads, samples\\) array"),
    ],
)  # fmt: skip
def test_bad_records_get_clear_errors(signal, kwargs, message):
    with pytest.raises(EcgSignalError, match=message):
        unit_processor().process(signal, **{"sampling_rate": 500, **kwargs})


def test_nan_only_and_flat_leads_are_rejected_or_zeroed_on_request():
    signal = sines(500)
    signal[2] = np.nan
    with pytest.raises(EcgSignalError, match="lead III is all NaN"):
        unit_processor().process(signal, 500)
    flat = sines(500)
    flat[7] = 0.3
    with pytest.raises(EcgSignalError, match="lead V2 is a flat line"):
        unit_processor().process(flat, 500)
    repaired = EcgJepaProcessor(lead_mean=[0.1] * 12, lead_std=[1.0] * 12, bad_lead_policy="zero").process(signal, 500)
    assert torch.all(repaired[2] == 0) and torch.isfinite(repaired).all() and repaired[0].abs().max() > 0.5


def test_unfitted_processor_says_how_to_fix_it():
    with pytest.raises(RuntimeError, match="call fit"):
        EcgJepaProcessor().process(sines(500), 500)


def test_call_returns_the_encoders_input_for_one_record_or_a_batch():
    processor = unit_processor(clip_value=100)
    one = processor(sines(250), sampling_rate=250, return_tensors="pt")
    assert isinstance(one, BatchFeature) and list(one) == ["input_values"]
    assert one["input_values"].shape == (1, 12, 1000)
    torch.testing.assert_close(one["input_values"][0], processor.process(sines(250), 250))
    batch = processor([sines(250), 2 * sines(250)], 250)["input_values"]
    assert batch.shape == (2, 12, 1000)
    torch.testing.assert_close(processor(np.stack([sines(250), 2 * sines(250)]), 250)["input_values"], batch)
    assert isinstance(processor(sines(250), 250, return_tensors="np")["input_values"], np.ndarray)
    with pytest.raises(EcgSignalError, match="different lengths"):
        processor([sines(250), sines(250, seconds=1.0)], 250)
