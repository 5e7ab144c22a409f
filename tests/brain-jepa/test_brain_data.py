"""Processor (layouts, NaN, TR, robust scaling) and loaders for real formats, on small files written here."""

import numpy as np
import pandas as pd
import pytest
import torch
from brain_jepa import BrainJepaConfig, BrainJepaProcessor
from brain_jepa.data import default_dataset, load_dataset, read_series, simulate_cohort
from brain_jepa.processor_brain_jepa import resample, resampled_length
from jepa_core.evaluation import linear_probe
from jepa_core.overrides import ConfigFieldError
from scipy import io as scipy_io
from transformers import AutoFeatureExtractor


def config(**overrides) -> BrainJepaConfig:
    return BrainJepaConfig.from_preset("tiny", num_rois=6, num_frames=32, gradient_components=3, **overrides)


def subject(seed: int, rois: int = 6, frames: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rois, frames)) * np.arange(1, rois + 1)[:, None] + 10


def test_processor_layouts_scaling_and_crop(tmp_path):
    processor = BrainJepaProcessor(6, 32, 16)
    series = subject(0)
    np.testing.assert_array_equal(processor.to_roi_time(series.T), series)  # time × ROI found by num_rois
    processor.fit([subject(i) for i in range(3)])
    frames = np.concatenate([subject(i) for i in range(3)], axis=1)
    np.testing.assert_allclose(processor.median, np.median(frames, axis=1))
    out = processor.process_subject(series)
    assert out.shape == (6, 32) and out.dtype == torch.float32
    q25, q75 = np.percentile(frames, [25, 75], axis=1)
    np.testing.assert_allclose(
        out.numpy(), ((series - processor.median[:, None]) / (q75 - q25)[:, None])[:, :32], rtol=1e-5
    )
    cropped = processor.process_subject(series, generator=torch.Generator().manual_seed(0))
    offsets = [k for k in range(9) if np.allclose(cropped.numpy(), processor.process_subject(series[:, k:]).numpy())]
    assert len(offsets) == 1
    batch = processor(series, return_tensors="pt")
    assert list(batch.keys()) == ["time_series"] and batch["time_series"].shape == (1, 6, 32)
    torch.testing.assert_close(batch["time_series"][0], out)
    stacked = processor(np.stack([series, subject(1)]))["time_series"]  # a stack (or a list) is a batch
    assert stacked.shape == (2, 6, 32) and torch.equal(stacked, processor([series, subject(1)])["time_series"])
    processor.save_pretrained(tmp_path)  # a transformers feature extractor: preprocessor_config.json
    assert (tmp_path / "preprocessor_config.json").is_file()
    again = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(again, BrainJepaProcessor) and isinstance(again.median, np.ndarray)
    np.testing.assert_array_equal(again.median, processor.median)
    torch.testing.assert_close(again.process_subject(series), out)


def test_processor_errors_name_the_problem():
    processor = BrainJepaProcessor(6, 32, 16)
    with pytest.raises(ValueError, match="neither axis has the model's 6 ROIs"):
        processor(np.zeros((7, 40)))
    with pytest.raises(ValueError, match="both axes.*layout="):
        BrainJepaProcessor(6, 4, 2)(np.random.default_rng(0).normal(size=(6, 6)))
    with pytest.raises(ValueError, match="2-D array"):
        processor.process_subject(np.zeros((2, 6, 40)))
    with pytest.raises(ValueError, match="shorter than one patch"):
        processor(np.random.default_rng(0).normal(size=(6, 10)))
    with pytest.raises(ConfigFieldError, match="takes 32.*num_frames <= 16") as error:
        processor(np.random.default_rng(0).normal(size=(6, 20)))
    assert "--set num_frames=16" in error.value.cli_message()
    series = subject(0)
    series[:, [3, 7]] = np.nan
    with pytest.raises(ValueError, match="2 frames hold NaN.*first at frame 3.*drop_frames"):
        processor(series)
    kept = BrainJepaProcessor(6, 32, 16, nan_policy="drop_frames").to_roi_time(series)
    assert kept.shape == (6, 38) and np.isfinite(kept).all()
    constant = [subject(i) for i in range(2)]
    constant[0][4] = constant[1][4] = 1.0
    with pytest.raises(ValueError, match="ROIs \\[4\\] are constant"):
        processor.fit(constant)


def test_resampling_to_a_target_tr():
    t = np.arange(200) * 0.72
    slow = np.sin(2 * np.pi * 0.02 * t)[None].repeat(2, 0)
    out = resample(slow, 0.72, 2.16)  # the paper's UKB TR 0.735 s → ≈2.2 s is a 1:3 step like this one
    assert out.shape == (2, 67)
    expected = np.sin(2 * np.pi * 0.02 * np.arange(67) * 2.16)
    assert np.abs(out[0, 5:-5] - expected[5:-5]).max() < 0.02
    processor = BrainJepaProcessor(2, 48, 16, repetition_time=2.16)
    assert processor.process_subject(slow, tr=0.72).shape == (2, 48)
    for frames, tr, target in [(200, 0.72, 2.16), (400, 0.72, 1.89), (250, 2.0, 1.89), (96, 1.89, 1.89)]:
        length = resample(np.zeros((1, frames)), tr, target).shape[1]  # what the pre-check's too-short test uses
        assert resampled_length(frames, tr, target) == length and abs(length * target - frames * tr) < target


def test_loaders_read_npy_csv_tsv_mat_and_labels(tmp_path):
    subjects = [subject(i) for i in range(5)]
    np.save(tmp_path / "sub-01.npy", subjects[0])
    pd.DataFrame(subjects[1].T, columns=[f"roi{i}" for i in range(6)]).to_csv(tmp_path / "sub-02.csv", index=False)
    pd.DataFrame(subjects[2].T).to_csv(tmp_path / "sub-03.tsv", sep="\t", index=False, header=False)
    scipy_io.savemat(tmp_path / "sub-04.mat", {"roi_timeseries": subjects[3], "tr": np.array([[1.89]])})
    np.save(tmp_path / "sub-05.npy", subjects[4].T)  # time × ROIs
    for path, expected in zip(sorted(tmp_path.iterdir()), subjects, strict=True):
        found = read_series(path)
        assert len(found) == 1
        layout = expected if found[0].shape == expected.shape else expected.T
        np.testing.assert_allclose(found[0], layout)
    pd.DataFrame({"subject": [f"sub-0{i}" for i in range(1, 6)], "label": [0, 1, 0, 1, 1],
                  "trait": [0.1, 0.2, 0.3, 0.4, 0.5]}).to_csv(tmp_path / "labels.csv", index=False)  # fmt: skip
    train, test = load_dataset(str(tmp_path), "train", config()), load_dataset(str(tmp_path), "test", config())
    assert len(train.subjects) == 4 and len(test.subjects) == 1  # every 5th subject is the test split
    assert len(train) == 8 and len(test) == 2  # 40 frames: 2 random crops / 2 strided windows of 32
    assert train.labels.tolist() == [0, 1, 0, 1] and test.traits.tolist() == pytest.approx([0.5])
    assert train[0]["time_series"].shape == (6, 32)
    processor = BrainJepaProcessor(6, 32, 16).fit(subjects[:4])
    torch.testing.assert_close(test[0]["time_series"], processor.process_subject(subjects[4].T))
    assert test.ids == ["sub-05"] and test.processor.median is not None
    everyone = load_dataset(str(tmp_path), "all", config(), processor=train.processor)
    assert everyone.ids == [f"sub-0{i}" for i in range(1, 6)] and everyone.labels.tolist() == [0, 1, 0, 1, 1]


def test_loader_reads_stacks_and_datasets_folders(tmp_path):
    import datasets

    stack = np.stack([subject(i) for i in range(5)])
    np.save(tmp_path / "cohort.npy", stack)
    assert len(load_dataset(str(tmp_path / "cohort.npy"), "train", config()).subjects) == 4
    folder = tmp_path / "hf"
    datasets.Dataset.from_dict({"time_series": stack.tolist(), "label": [0, 1, 1, 0, 1]}).save_to_disk(str(folder))
    test = load_dataset(str(folder), "test", config())
    assert len(test.subjects) == 1 and test.labels.tolist() == [1]
    torch.testing.assert_close(
        test[0]["time_series"], BrainJepaProcessor(6, 32, 16).fit(stack[:4]).process_subject(stack[4])
    )


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(str(tmp_path / "missing"), "train", config())
    with pytest.raises(FileNotFoundError, match="no ROI time series files"):
        load_dataset(str(tmp_path), "train", config())
    np.save(tmp_path / "sub-01.npy", subject(0, rois=7))
    np.save(tmp_path / "sub-02.npy", subject(1, rois=7))
    assert load_dataset(str(tmp_path), "train", config()).num_rois == 7  # the data sizes the model
    scipy_io.savemat(tmp_path / "two.mat", {"a": subject(0), "b": subject(1)})
    with pytest.raises(ValueError, match="cannot tell which variable"):
        read_series(tmp_path / "two.mat")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="unsupported file type"):
        read_series(tmp_path / "notes.txt")


def test_embedded_cohort_labels_live_in_timescales_and_the_trait_in_connectivity():
    cohort = simulate_cohort(300, 96, seed=0)
    series, labels, traits = cohort["time_series"], cohort["labels"], cohort["traits"]
    assert series.shape == (300, 31, 96) and set(labels) == {0, 1, 2}
    assert np.all((traits >= 0) & (traits <= 1))
    upper = np.triu_indices(31, 1)
    connectivity = np.stack([np.arctanh(np.corrcoef(s)[upper]) for s in series])
    autocorrelation = np.stack([[np.corrcoef(roi[:-1], roi[1:])[0, 1] for roi in subject] for subject in series])
    # the dedifferentiation trait weakens connectivity; the classes are timescales, not amplitudes
    assert np.corrcoef(np.abs(connectivity).mean(1), traits)[0, 1] < -0.5
    timescale_probe = linear_probe(autocorrelation[:200], labels[:200], autocorrelation[200:], labels[200:])
    amplitude = series.std(-1)
    amplitude_probe = linear_probe(amplitude[:200], labels[:200], amplitude[200:], labels[200:])
    assert timescale_probe["accuracy"] > 0.7 and amplitude_probe["accuracy"] < 0.5
    assert np.all(np.diff([autocorrelation[labels == c].mean() for c in range(3)]) > 0.05)  # slower groups
    dataset = default_dataset("test", BrainJepaConfig.from_preset("tiny"))
    assert len(dataset) == 256 and dataset[0]["time_series"].shape == (31, 96)
    with pytest.raises(ConfigFieldError, match="embedded data set has 31 ROIs"):
        default_dataset("train", BrainJepaConfig())
    everyone = default_dataset("all", BrainJepaConfig.from_preset("tiny"), dataset.processor)
    assert len(everyone) == 768 and everyone.ids[0] == "train-000" and everyone.ids[-1] == "test-255"
    torch.testing.assert_close(everyone[512]["time_series"], dataset[0]["time_series"])
    assert list(everyone.class_names) == list(dataset.class_names) and len(dataset.class_names) == 3
