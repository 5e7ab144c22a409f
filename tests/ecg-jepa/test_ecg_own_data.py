"""A user's own ECG as it comes: a single-lead 1000 Hz ECG as CSV and a WFDB lead subset at 360 Hz, through `jepa
pretrain / evaluate / embed` in fresh interpreters; the R-peak clipping measured on realistic ECG; bad files listed
together."""

import json

import neurokit2 as nk
import numpy as np
import pandas as pd
import pytest
import torch
from ecg_jepa import EcgJepaConfig, EcgJepaProcessor
from ecg_jepa.data import load_dataset
from jepa_cli import jepa_ok as jepa
from jepa_cli import last_json


def clipped_r_peaks(signal: np.ndarray, fs: float, processor: EcgJepaProcessor, lead: str = "II") -> float:
    """Share of the R peaks (neurokit2's detector on the raw signal) that the processor's clip flattens."""
    peaks = nk.ecg_peaks(signal, sampling_rate=fs)[1]["ECG_R_Peaks"]
    out = processor.process(signal[None], fs, [lead])[0].numpy()
    at = np.round(peaks * processor.sampling_rate / fs).astype(int)
    top = np.array([np.abs(out[max(0, i - 2) : i + 3]).max() for i in at])
    return float((top >= processor.clip_value - 1e-6).mean())


def realistic_ecgs() -> dict[str, tuple[np.ndarray, float]]:
    ecgs = {"ecgsyn_1000hz_50bpm": (nk.ecg_simulate(duration=60, sampling_rate=1000, heart_rate=50, random_state=1),
                                    1000.0)}  # fmt: skip
    try:
        import pywt

        ecgs["pywt_mitbih_360hz"] = (pywt.data.ecg().astype(np.float64), 360.0)  # a real MIT-BIH excerpt
    except ImportError:
        pass
    return ecgs  # pyhrv / sktime samples: not installed here


def test_clipping_keeps_the_r_peaks_of_realistic_ecg(capsys):
    shares = {}
    for name, (signal, fs) in realistic_ecgs().items():
        fitted = EcgJepaProcessor(500, ["II"]).fit([signal[None]], fs, ["II"])
        paper = EcgJepaProcessor(500, ["II"], lead_mean=fitted.lead_mean, lead_std=fitted.lead_std, clip_value=5.0)
        shares[name] = (clipped_r_peaks(signal, fs, paper), clipped_r_peaks(signal, fs, fitted), fitted.clip_value)
    with capsys.disabled():
        print("\nshare of R peaks clipped (±5 SD, fitted bound, bound):", shares)
    assert shares["ecgsyn_1000hz_50bpm"][0] > 0.05  # the paper's ±5 flattens some of them …
    assert all(fitted == 0.0 and bound > 5 for _, fitted, bound in shares.values())  # … the fitted bound none
    if "pywt_mitbih_360hz" in shares:
        assert shares["pywt_mitbih_360hz"][0] > 0.9  # the real one: nearly all under ±5


def single_lead_csvs(folder, count: int = 12, test_from: int | None = None) -> dict[str, str]:
    """Single-lead (II) 1000 Hz ECG, 8 s each, a `time` column in seconds; slow (50 bpm) or fast (110 bpm); records
    from `test_from` on go to test/, the others to train/ (with `test_from`)."""
    folder.mkdir(parents=True)
    labels = {}
    for i in range(count):
        if test_from is not None:
            part = "test" if i >= test_from else "train"
            (folder / part).mkdir(exist_ok=True)
        name = f"r{i:02d}" if test_from is None else f"{part}/r{i:02d}"
        rate = 50 if i % 2 else 110
        signal = nk.ecg_simulate(duration=8, sampling_rate=1000, heart_rate=rate, noise=0.02, random_state=i)
        table = pd.DataFrame({"time": np.arange(len(signal)) / 1000, "II": signal})
        table.to_csv(folder / f"{name}.csv", index=False)
        labels[name] = "slow" if rate == 50 else "fast"
    pd.DataFrame({"record": list(labels), "label": list(labels.values())}).to_csv(folder / "labels.csv", index=False)
    return labels


def test_single_lead_1000hz_csv_through_the_cli(tmp_path):
    data, run = tmp_path / "csv", tmp_path / "run"
    labels = single_lead_csvs(data, test_from=8)
    jepa("pretrain", "ecg-jepa", "--preset", "tiny", "--data", str(data), "--max-steps", "2", "--batch-size", "4",
         "--threads", "1", "--output-dir", str(run))  # fmt: skip
    config = json.loads((run / "config.json").read_text())
    assert config["num_leads"] == 1 and config["lead_names"] == ["II"]  # the data sized the model
    from transformers import AutoModel, AutoProcessor

    encoder, processor = AutoModel.from_pretrained(run).eval(), AutoProcessor.from_pretrained(run)
    assert sum(p.shape[1] == 1 for p in encoder.parameters() if p.ndim == 3) >= 1  # the Conv1d takes one lead
    # the processor's statistics are those of the training files (resampled to 500 Hz)
    train = load_dataset(data, "train", EcgJepaConfig.from_preset("tiny"))
    assert train.lead_names == ["II"] and len(train.records) == 8  # the train/ folder
    np.testing.assert_allclose(processor.lead_mean, train.processor.lead_mean, rtol=1e-6)
    np.testing.assert_allclose(processor.lead_std, train.processor.lead_std, rtol=1e-6)
    assert processor.clip_value > 5  # fitted: the R peaks survive
    result = last_json(jepa("evaluate", str(run), "--data", str(data)).stdout)
    assert result["headline_metric"] == "probe_macro_auc" and 0 <= result["probe_macro_auc"] <= 1
    output = tmp_path / "e.parquet"
    jepa("embed", str(run), "--data", str(data), "--output", str(output))
    table = pd.read_parquet(output)
    assert sorted(table["id"]) == sorted(labels)  # one row per record, with its id
    # the run's processor reproduces the embeddings after a reload
    frame = pd.read_csv(data / "train" / "r03.csv")
    x = processor.process(frame["II"].to_numpy()[None], 1000, ["II"])
    crops = x.unfold(-1, config["eval_crop_length"], config["eval_crop_stride"]).permute(1, 0, 2)
    with torch.no_grad():
        expected = encoder(input_values=crops).last_hidden_state[:, config["num_register_tokens"] :].mean(1).mean(0)
    got = np.asarray(table.set_index("id").loc["train/r03", "embedding"])
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)


@pytest.mark.slow
def test_wfdb_lead_subset_at_360hz_pretrains_per_lead_and_evaluates(tmp_path):
    import wfdb

    data, run = tmp_path / "wfdb", tmp_path / "run"
    leads = ["V1", "II", "V5"]  # a subset, not in the standard order
    for i in range(10):  # train/ and test/ folders: both classes in each split (a 80/20 split of 10 might not)
        folder = data / ("test" if i >= 8 else "train")
        folder.mkdir(parents=True, exist_ok=True)
        multi = nk.ecg_simulate(duration=12, sampling_rate=360, heart_rate=55 if i % 2 else 100, method="multileads",
                                random_state=i)  # fmt: skip
        signal = multi[leads].to_numpy()
        wfdb.wrsamp(f"rec{i}", fs=360, units=["mV"] * 3, sig_name=leads, p_signal=signal, fmt=["16"] * 3,
                    write_dir=str(folder), comments=[f"Dx: {'brady' if i % 2 else 'normal'}"])  # fmt: skip
    jepa("pretrain", "ecg-jepa", "--preset", "tiny_per_lead", "--data", str(data), "--max-steps", "2",
         "--batch-size", "4", "--threads", "1", "--output-dir", str(run))  # fmt: skip
    config = json.loads((run / "config.json").read_text())
    assert config["model_type"] == "jepa_ecg_per_lead"
    assert config["num_leads"] == 3 and config["lead_names"] == ["II", "V1", "V5"]  # standard order
    result = last_json(jepa("evaluate", str(run), "--data", str(data)).stdout)
    assert 0 <= result["probe_macro_auc"] <= 1


def test_bad_files_are_listed_together_and_leads_never_fabricated(tmp_path):
    data = tmp_path / "bad"
    single_lead_csvs(data, count=4)
    (data / "labels.csv").unlink()
    frame = pd.read_csv(data / "r00.csv")
    frame.iloc[:, 1] = np.nan
    frame.to_csv(data / "nan.csv", index=False)
    frame.iloc[:100].assign(II=1.0).to_csv(data / "short.csv", index=False)
    np.save(data / "bare.npy", np.zeros((1, 10)))
    config = EcgJepaConfig.from_preset("tiny")
    with pytest.raises(ValueError) as error:
        load_dataset(data, "train", config)
    message = str(error.value)
    assert "3 of 7 input files" in message and "nan.csv: lead II is all NaN" in message
    assert "short.csv: too short" in message and "bare.npy" in message and "input_sampling_rate" in message
    skipped = load_dataset(data, "train", EcgJepaConfig.from_preset("tiny", on_bad_file="skip"))
    assert len(skipped.records) == 4
    twelve = EcgJepaProcessor(lead_mean=[0.0] * 12, lead_std=[1.0] * 12)
    with pytest.raises(ValueError, match="lacks lead.*never filled in"):
        twelve.process(frame["II"].to_numpy()[None, :2000], 1000, ["II"])
