"""A user's own cohort through the `jepa` command: 94 ROIs × long scans at TR 0.72 s as .npy/.csv/.mat files."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from jepa_cli import ENV
from jepa_cli import jepa_ok as jepa
from scipy import io as scipy_io

NUM_ROIS, FRAMES, TR = 94, 400, 0.72


def scan(seed: int, label: int) -> np.ndarray:
    """(ROIs, time): two latent networks (slower for label 1) mixed into 94 ROIs, plus noise."""
    rng = np.random.default_rng(seed)
    from scipy import signal

    rho = 0.95 if label else 0.7
    latent = signal.lfilter([1], [1, -rho], rng.normal(size=(2, FRAMES)), axis=1)
    mixing = np.zeros((NUM_ROIS, 2))
    mixing[: NUM_ROIS // 2, 0], mixing[NUM_ROIS // 2 :, 1] = 1.0, 1.0
    return mixing @ latent + 0.8 * rng.normal(size=(NUM_ROIS, FRAMES)) + 5


def write_cohort(folder, subjects: int = 10):
    folder.mkdir(parents=True)
    labels = []
    for i in range(subjects):
        series, name, label = scan(i, i % 2), f"sub-{i:02d}", i % 2
        if i % 3 == 0:
            np.save(folder / f"{name}.npy", series)
            (folder / f"{name}.json").write_text(json.dumps({"RepetitionTime": TR}))  # a BIDS sidecar
        elif i % 3 == 1:
            pd.DataFrame(series.T, columns=[f"roi{r}" for r in range(NUM_ROIS)]).to_csv(folder / f"{name}.csv",
                                                                                        index=False)  # fmt: skip
            (folder / f"{name}.json").write_text(json.dumps({"RepetitionTime": TR}))
        else:
            scipy_io.savemat(folder / f"{name}.mat", {"roi_timeseries": series.T, "TR": np.array([[TR]])})
        labels.append({"subject": name, "label": label, "trait": float(label) + 0.1 * i})
    pd.DataFrame(labels).to_csv(folder / "labels.csv", index=False)


@pytest.mark.slow
def test_a_94_roi_cohort_at_another_tr_through_the_cli(tmp_path):
    data, run = tmp_path / "cohort", tmp_path / "run"
    write_cohort(data)
    jepa("pretrain", "brain-jepa", "--preset", "tiny", "--data", str(data), "--max-steps", "2", "--batch-size", "8",
         "--output-dir", str(run), "--threads", "1")  # fmt: skip
    out = jepa("evaluate", str(run), "--data", str(data)).stdout
    assert np.isfinite(json.loads(out[out.index("{") :])["linear_probe_accuracy"])
    out = jepa("score", str(run), "--data", str(data), "--num-samples", "2").stdout
    assert np.isfinite(json.loads(out[out.index("{") :])["jepa_score"]).all()
    jepa("embed", str(run), "--data", str(data), "--output", str(run / "e.parquet"))
    code = f"""
import json, numpy as np, pandas as pd, torch, brain_jepa
from transformers import AutoModel, AutoProcessor
from brain_jepa.data import embedded_brain_gradients, read_series, read_repetition_time, load_dataset
from brain_jepa.processor_brain_jepa import brain_gradients_from_timeseries, resample
from pathlib import Path
run, data = Path({str(run)!r}), Path({str(data)!r})
encoder = AutoModel.from_pretrained(run).eval()
processor = AutoProcessor.from_pretrained(run)
config = encoder.config
assert (config.num_rois, processor.num_rois) == (94, 94), (config.num_rois, processor.num_rois)
assert encoder.brain_gradients.shape == (94, config.gradient_components)
assert "training subjects" in config.gradient_source and "94 ROIs" in config.parcellation
assert processor.repetition_time == config.model_repetition_time == 1.89
files = sorted(p for p in data.iterdir() if p.suffix in (".npy", ".csv", ".mat") and p.name != "labels.csv")
assert all(read_repetition_time(p) == {TR} for p in files)
subjects = [read_series(p)[0] for p in files]
subjects = [s if s.shape[0] == 94 else s.T for s in subjects]
train = [resample(s, {TR}, 1.89) for i, s in enumerate(subjects) if i % 5 != 4]
assert abs(train[0].shape[1] * 1.89 - {FRAMES} * {TR}) < 1.89  # the scan's duration, in frames of 1.89 s
expected = brain_gradients_from_timeseries(train, config.gradient_components, config.gradient_alpha,
                                           config.gradient_sparsity)
np.testing.assert_allclose(encoder.brain_gradients.numpy(), expected, atol=1e-4)
# the embedded cohort's gradients (31 ROIs) are not these
assert embedded_brain_gradients(config.__class__.from_preset("tiny")).shape[0] == 31
# the embed command: one row per subject, the mean of its strided windows, reproduced by the saved processor
table = pd.read_parquet(run / "e.parquet")
assert list(table["id"]) == [p.stem for p in files] and list(table["label"]) == [i % 2 for i in range(10)]
frames = train[0].shape[1]
from jepa_core.windows import window_starts
starts = window_starts(frames, 96)
raw = subjects[0]
scaled = processor.process_subject(raw, layout="roi_time", tr={TR})  # first window
full = (resample(raw, {TR}, 1.89) - processor.median[:, None]) / processor.iqr[:, None]
windows = torch.stack([torch.from_numpy(full[:, s:s + 96].astype(np.float32)) for s in starts])
torch.testing.assert_close(windows[0], scaled)
with torch.no_grad():
    mine = encoder(time_series=windows).last_hidden_state.mean(1).mean(0)
np.testing.assert_allclose(np.asarray(table["embedding"].iloc[0]), mine.numpy(), atol=1e-4)
assert len(starts) >= 2
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]


def test_the_precheck_lists_every_bad_file(tmp_path):
    from brain_jepa import BrainJepaConfig
    from brain_jepa.data import load_dataset
    from jepa_core.data_checks import BadFilesError

    data = tmp_path / "cohort"
    write_cohort(data, subjects=6)
    nan = scan(20, 0)
    nan[3, 10] = np.nan
    np.save(data / "sub-nan.npy", nan)
    flat = scan(21, 0)
    flat[5] = 1.0
    np.save(data / "sub-flat.npy", flat)
    np.save(data / "sub-short.npy", scan(22, 0)[:, :100])
    np.save(data / "sub-93.npy", scan(23, 0)[:93])
    (data / "sub-broken.npy").write_bytes(b"\x93NUMPY garbage")
    config = BrainJepaConfig.from_preset("tiny", repetition_time=TR)
    with pytest.raises(BadFilesError) as error:
        load_dataset(str(data), "train", config)
    message = str(error.value)
    assert "5 of 11 input files" in message, message
    for name, problem in [("sub-nan", "NaN"), ("sub-flat", "constant"), ("sub-short", "too short"),
                          ("sub-93", "no axis of the other files' 94 ROIs"), ("sub-broken", "unreadable")]:  # fmt: skip
        assert any(name in line and problem in line for line in message.splitlines()), (name, message)
    skipped = load_dataset(
        str(data), "train", BrainJepaConfig.from_preset("tiny", on_bad_file="skip", repetition_time=TR)
    )
    assert skipped.num_rois == 94 and len(skipped.subjects) == 5  # 6 good subjects, every 5th is test
