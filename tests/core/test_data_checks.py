import logging

import numpy as np
import pytest
import torch
from jepa_core.data_checks import (
    BadFilesError,
    finite,
    first_problem,
    long_enough,
    not_silent,
    read_files,
    sampling_rate_is,
)
from jepa_core.windows import Windows, window_starts
from toy_domain import ToyConfig


def _write(folder, arrays: dict) -> list:
    paths = []
    for name, array in arrays.items():
        path = folder / f"{name}.npy"
        if array is None:
            path.write_bytes(b"\x93NUMPY truncated")
        else:
            np.save(path, array)
        paths.append(path)
    return paths


def _check(values) -> str | None:
    return first_problem(finite(values), long_enough(len(values), 10), not_silent(values))


def test_every_bad_file_is_reported_at_once(tmp_path):
    paths = _write(tmp_path, {"good": np.arange(20.0), "short": np.arange(5.0), "nan": np.r_[np.nan, np.ones(19)],
                              "silent": np.zeros(20), "broken": None})  # fmt: skip
    with pytest.raises(BadFilesError) as error:
        read_files(paths, np.load, _check)
    message = str(error.value)
    assert "4 of 5 input files cannot be used" in message and "--set on_bad_file=skip" in message
    assert "short.npy: too short: 5 samples, at least 10 needed" in message
    assert "nan.npy: 1 NaN or infinite values" in message and "silent.npy: silent or constant" in message
    assert "broken.npy: unreadable (" in message and "good.npy" not in message


def test_skip_policy_keeps_the_good_files_and_warns(tmp_path, caplog):
    paths = _write(tmp_path, {"a": np.arange(20.0), "b": np.arange(3.0), "c": np.arange(30.0)})
    with caplog.at_level(logging.WARNING):
        kept = read_files(paths, np.load, _check, policy="skip")
    assert [p.name for p, _ in kept] == ["a.npy", "c.npy"] and np.array_equal(kept[1][1], np.arange(30.0))
    assert "1 of 3 input files are left out" in caplog.text and "b.npy" in caplog.text
    with pytest.raises(BadFilesError):
        read_files(paths[1:2], np.load, _check, policy="skip")  # nothing usable left
    with pytest.raises(ValueError, match="no input file"):
        read_files([], np.load)


def test_policy_is_a_config_field():
    assert ToyConfig(on_bad_file="skip").on_bad_file == "skip"
    with pytest.raises(ValueError, match="on_bad_file must be one of"):
        ToyConfig(on_bad_file="ignore")


def test_sampling_rate_check():
    assert sampling_rate_is(500.0, 500) is None and sampling_rate_is(None, 500) is None
    assert sampling_rate_is(360, 500) == "sampling rate 360, expected 500"


def test_strided_windows_cover_every_step():
    assert window_starts(10, 4) == [0, 4, 6]
    assert window_starts(8, 4) == [0, 4]
    assert window_starts(10, 4, stride=2) == [0, 2, 4, 6]
    assert window_starts(3, 4) == []


def test_windows_give_many_samples_per_long_recording():
    recordings = [torch.arange(10), torch.arange(100, 104), torch.arange(200, 202)]
    lengths = [len(r) for r in recordings]

    def crop(recording, start):
        return recordings[recording][start : start + 4]

    evaluation = Windows(lengths, 4, crop)
    assert len(evaluation) == 4 and evaluation.recording_of == [0, 0, 0, 1]  # the 2-step recording is too short
    assert torch.equal(evaluation[2], torch.arange(6, 10))
    pretraining = Windows(lengths, 4, crop, random_crops=True)
    assert len(pretraining) == 3 + 1
    torch.manual_seed(0)
    starts = {int(pretraining[0][0]) for _ in range(200)}
    assert starts == set(range(7))  # uniform random crops over every valid start
    with pytest.raises(ValueError, match="no recording is at least one window"):
        Windows([2, 3], 4, crop)
