"""Loaders on small files the tests write: WFDB records, a miniature PTB-XL tree, .npz arrays; the simulation."""

import numpy as np
import pandas as pd
import pytest
import torch
import wfdb
from ecg_jepa import STANDARD_LEADS, EcgJepaConfig, EcgSignalError
from ecg_jepa.data import load_dataset, ptbxl_dataset, read_wfdb
from ecg_jepa.simulation import SIMULATED_CONDITIONS, ecgsyn_leads, simulate_record

CONFIG = EcgJepaConfig.from_preset("tiny")
STATEMENTS = pd.DataFrame(
    {"diagnostic": [1, 1, 1, np.nan, np.nan], "form": [np.nan, np.nan, 1, 1, np.nan],
     "rhythm": [np.nan, np.nan, np.nan, np.nan, 1], "diagnostic_class": ["NORM", "MI", "MI", None, None]},
    index=pd.Index(["NORM", "IMI", "ASMI", "NDT", "SR"]),
)  # fmt: skip


def write_record(folder, name: str, signal: np.ndarray, fs: int = 500, leads=STANDARD_LEADS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(leads), sig_name=list(leads), p_signal=signal.T,
                fmt=["16"] * len(leads), adc_gain=[1000.0] * len(leads), baseline=[0] * len(leads),
                write_dir=str(folder))  # fmt: skip


def ecg(seed: int, seconds: float = 2.5, fs: int = 500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    return np.stack([np.sin(2 * np.pi * rng.uniform(1, 3) * t) + 0.1 * rng.normal(size=len(t)) for _ in range(12)])


@pytest.fixture
def ptbxl(tmp_path):
    """Ten records, one per fold, with scp_codes as PTB-XL writes them."""
    codes = ["{'NORM': 100.0, 'SR': 0.0}", "{'IMI': 80.0, 'NDT': 50.0}", "{'ASMI': 100.0}", "{'SR': 0.0}",
             "{'NORM': 100.0}", "{'IMI': 100.0, 'SR': 0.0}", "{'NDT': 100.0}", "{'NORM': 50.0}",
             "{'ASMI': 100.0, 'NDT': 0.0}", "{'IMI': 100.0, 'NORM': 15.0}"]  # fmt: skip
    rows = []
    for ecg_id, code in enumerate(codes, start=1):
        name = f"{ecg_id:05d}_hr"
        write_record(tmp_path / "records500" / "00000", name, ecg(ecg_id))
        rows.append(
            {"ecg_id": ecg_id, "scp_codes": code, "strat_fold": ecg_id, "filename_hr": f"records500/00000/{name}"}
        )
    pd.DataFrame(rows).to_csv(tmp_path / "ptbxl_database.csv", index=False)
    STATEMENTS.to_csv(tmp_path / "scp_statements.csv")
    return tmp_path


def test_read_wfdb_round_trips_physical_values(tmp_path):
    signal = ecg(0)
    write_record(tmp_path, "rec", signal)
    read, fs, names = read_wfdb(tmp_path / "rec.hea")
    assert fs == 500 and names == list(STANDARD_LEADS) and read.shape == (12, 1250)
    np.testing.assert_allclose(read, signal, atol=1e-3)  # 16-bit at 1000 units/mV


def test_truncated_dat_and_missing_sample_rate_are_reported(tmp_path):
    write_record(tmp_path, "rec", ecg(0))
    dat = tmp_path / "rec.dat"
    dat.write_bytes(dat.read_bytes()[:5000])
    with pytest.raises(EcgSignalError, match="truncated"):
        read_wfdb(tmp_path / "rec")
    write_record(tmp_path, "nofs", ecg(0))
    header = tmp_path / "nofs.hea"
    lines = header.read_text().splitlines()
    lines[0] = " ".join(lines[0].split()[:2])
    header.write_text("\n".join(lines) + "\n")
    with pytest.raises(EcgSignalError, match="no sample rate"):
        read_wfdb(header)


def test_ptbxl_folds_and_multilabel_targets(ptbxl):
    train = ptbxl_dataset(ptbxl, "train", CONFIG)
    test = ptbxl_dataset(ptbxl, "test", CONFIG)
    val = ptbxl_dataset(ptbxl, "val", CONFIG)
    assert train.label_names == ["ASMI", "IMI", "NDT", "NORM", "SR"] == test.label_names
    assert (len(train), len(val), len(test)) == (8, 1, 1)
    np.testing.assert_array_equal(test.labels.numpy(), [[0, 1, 0, 1, 0]])  # IMI + NORM (any likelihood counts)
    np.testing.assert_array_equal(train.labels[1].numpy(), [0, 1, 1, 0, 0])
    sample = train[0]
    assert sample["input_values"].shape == (12, 1250) and sample["input_values"].dtype == torch.float32
    super_train = ptbxl_dataset(ptbxl, "train", CONFIG, task="superdiagnostic")
    assert super_train.label_names == ["MI", "NORM"]
    assert len(super_train) == 6  # records with only SR / NDT have no diagnostic superclass and are dropped
    rhythm = ptbxl_dataset(ptbxl, "train", CONFIG, task="rhythm")
    assert rhythm.label_names == ["SR"] and len(rhythm) == 3


def test_load_dataset_dispatches_and_reorders_leads(tmp_path, ptbxl):
    assert len(load_dataset(ptbxl, "train", CONFIG)) == 8
    folder = tmp_path / "plain"
    order = list(reversed(STANDARD_LEADS))
    write_record(folder, "a", ecg(1, 3.0, 250)[::-1], fs=250, leads=order)
    write_record(folder, "b", ecg(2, 3.0, 250), fs=250)
    records = load_dataset(folder, "train", CONFIG)
    assert records.labels is None and len(records.records) == 2 and len(records) == 4  # 2 random crops a record
    assert records.records[0].shape == (12, 1500)  # resampled 250 → 500 Hz and back in standard order
    assert np.corrcoef(records.records[0][0], records.processor.process(ecg(1, 3.0, 250), 250)[0])[0, 1] > 0.999


def test_npz_arrays_need_a_sample_rate(tmp_path):
    signals = np.stack([ecg(i, 2.5, 250) for i in range(10)])
    path = tmp_path / "ecg.npz"
    np.savez(path, signals=signals, sampling_rate=250, labels=np.eye(2)[np.arange(10) % 2],
             label_names=np.array(["a", "b"]))  # fmt: skip
    train, test = load_dataset(path, "train", CONFIG), load_dataset(path, "test", CONFIG)
    assert len(train) + len(test) == 10 and train.label_names == ["a", "b"]
    assert train[0]["input_values"].shape == (12, 1250)
    np.save(tmp_path / "bare.npy", signals[0])  # one record; a .npy declares no rate
    with pytest.raises(ValueError, match="declares no sampling rate.*--set input_sampling_rate"):
        load_dataset(tmp_path / "bare.npy", "train", CONFIG)
    np.save(tmp_path / "stack.npy", signals)
    with pytest.raises(ValueError, match="must hold one record"):
        load_dataset(tmp_path / "stack.npy", "train", CONFIG)
    np.savez(tmp_path / "short.npz", signals=signals[..., :200], sampling_rate=250)
    with pytest.raises(EcgSignalError, match="shorter than"):
        load_dataset(tmp_path / "short.npz", "train", CONFIG)


def test_simulated_records_have_the_drawn_rhythms():
    rng = np.random.default_rng(3)
    pairs = [simulate_record(rng) for _ in range(64)]
    signals, labels = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    assert signals.shape == (64, 12, 5000) and labels.shape == (64, len(SIMULATED_CONDITIONS))
    assert np.isfinite(signals).all()
    brady, tachy, fibrillation, premature, av_block = labels.T.astype(bool)
    assert not (brady & tachy).any() and not (fibrillation & (premature | av_block)).any()
    assert all(4 <= column.sum() <= 32 for column in labels.T)  # every condition occurs, none in most records
    np.testing.assert_array_equal(simulate_record(np.random.default_rng(3))[0], signals[0])  # reproducible


def test_ecgsyn_solution_matches_neurokit2_and_follows_the_rr_series():
    import neurokit2 as nk

    reference = nk.ecg_simulate(duration=8, sampling_rate=500, heart_rate=75, heart_rate_std=0, noise=0,
                                method="multileads").to_numpy().T  # fmt: skip
    ours = ecgsyn_leads(np.full(12, 0.8), reference.shape[1])
    for lead in range(12):  # the same waveform (neurokit2's start-up transient aside, hence from 3 s on)
        assert np.corrcoef(reference[lead, 1500:], ours[lead, 1500:])[0, 1] > 0.99
    rr = np.array([1.0, 1.0, 0.6, 1.3, 1.0, 1.0])  # a premature beat at 2.6 s, its pause, then back on time at 3.9 s
    avl = ecgsyn_leads(rr, 2000, start=1.5)[4]  # lead aVL: R waves tower over the T waves
    peaks = 1.5 + (np.flatnonzero((avl[1:-1] > avl[:-2]) & (avl[1:-1] >= avl[2:]) & (avl[1:-1] > 0.9)) + 1) / 500
    np.testing.assert_allclose(peaks, [2.0, 2.6, 3.9, 4.9], atol=0.01)
    with pytest.raises(ValueError, match="covers"):
        ecgsyn_leads(rr, 5000)
