import numpy as np
import pandas as pd
import pytest
import torch
from tsjepa import TimeSeriesJepaConfig
from tsjepa.data import default_dataset, load_dataset

CONFIG = TimeSeriesJepaConfig.from_preset("tiny", trajectory_length=40)


def episodes_frame(count: int = 5, length: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for episode in range(count):
        for t in range(length):
            readings = dict(x=rng.normal() + episode, x_dot=rng.normal(), theta=rng.normal(), theta_dot=rng.normal())
            rows.append(dict(episode=episode, time=t * 0.02, **readings, force=rng.normal(), label=episode % 2))
    shuffled = pd.DataFrame(rows).sample(frac=1.0, random_state=0)
    return shuffled.sort_values(["episode", "time"])


def test_default_dataset_is_standardised_with_train_statistics():
    config = TimeSeriesJepaConfig.from_preset("tiny", num_train_trajectories=64, num_test_trajectories=16)
    train, test = default_dataset("train", config), default_dataset("test", config)
    assert train.tensors["series"].shape == (64, 4, 100) and len(train) == 64 * 70
    torch.testing.assert_close(train.tensors["series"].mean(dim=(0, 2)), torch.zeros(4), atol=1e-4, rtol=0)
    torch.testing.assert_close(train.tensors["series"].std(dim=(0, 2)), torch.ones(4), atol=1e-2, rtol=0)
    assert test.processor is not None and not torch.equal(test.tensors["series"][:16], train.tensors["series"][:16])
    assert set(train.tensors["labels"].tolist()) == {0, 1, 2, 3}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_loader_splits_episodes(tmp_path, suffix):
    frame = episodes_frame()
    path = tmp_path / f"runs{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    train, test = load_dataset(str(path), "train", CONFIG), load_dataset(str(path), "test", CONFIG)
    assert train.tensors["series"].shape == (4, 4, 40) and test.tensors["series"].shape == (1, 4, 40)
    assert train.tensors["labels"].tolist() == [0, 1, 0, 1] and test.tensors["labels"].tolist() == [0]
    raw_x = frame[frame.episode == 4].x.to_numpy()
    train_x = frame[frame.episode < 4].x.to_numpy()
    expected = (raw_x - train_x.mean()) / train_x.std()
    np.testing.assert_allclose(test.tensors["series"][0, 0].numpy(), expected, rtol=1e-4, atol=1e-4)


def test_numpy_loader_and_folder_layout(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "train.npz", series=rng.normal(size=(6, 4, 40)), commands=rng.normal(size=(6, 40)),
             labels=np.arange(6) % 3)  # fmt: skip
    np.save(tmp_path / "test.npy", rng.normal(size=(4, 40)))
    train, test = load_dataset(str(tmp_path), "train", CONFIG), load_dataset(str(tmp_path), "test", CONFIG)
    assert train.tensors["commands"].shape == (6, 1, 40) and test.tensors["series"].shape == (1, 4, 40)
    commands = test.tensors["commands"]  # none recorded → zeros, standardised with the train statistics
    assert (commands == commands[0, 0, 0]).all()
    torch.testing.assert_close(
        commands[0, 0, 0], -torch.tensor(train.processor.command_mean[0] / train.processor.command_std[0])
    )


def test_bad_files_get_clear_errors(tmp_path):
    frame = episodes_frame()
    frame.drop(columns="theta").to_csv(tmp_path / "missing.csv", index=False)
    named = CONFIG.__class__.from_preset("tiny", trajectory_length=40, channel_columns=["x", "theta"])
    with pytest.raises(ValueError, match=r"no column\(s\) \['theta'\]"):
        load_dataset(str(tmp_path / "missing.csv"), "train", named)
    nan = frame.copy()
    nan.loc[nan.index[7], "x_dot"] = np.nan
    nan.to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(ValueError, match="NaN"):
        load_dataset(str(tmp_path / "nan.csv"), "train", CONFIG)
    episodes_frame(length=20).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(ValueError, match="at least 31 needed"):
        load_dataset(str(tmp_path / "short.csv"), "train", CONFIG)
    repeated = pd.concat([frame, frame[frame.episode == 2]])
    repeated.to_csv(tmp_path / "repeated.csv", index=False)
    with pytest.raises(ValueError, match=r"\[episode 2\]: time column 'time' repeats a time stamp"):
        load_dataset(str(tmp_path / "repeated.csv"), "train", CONFIG)
    # rows in any order are sorted by time within each episode
    backwards = frame.iloc[::-1]
    backwards.to_csv(tmp_path / "backwards.csv", index=False)
    sorted_ = load_dataset(str(tmp_path / "backwards.csv"), "train", CONFIG)
    expected = load_dataset(str(tmp_path / "nan.csv").replace("nan", "missing"), "train", CONFIG)
    assert sorted_.tensors["series"].shape[1] == 4 and expected.tensors["series"].shape[1] == 3  # theta left out
    (tmp_path / "data.txt").write_text("1,2")
    with pytest.raises(ValueError, match="unsupported format"):
        load_dataset(str(tmp_path / "data.txt"), "train", CONFIG)


def test_episodes_keep_their_lengths_and_per_row_labels(tmp_path):
    """One short episode does not truncate the others: pieces overlap so that every anchor is used; per-row
    labels give each episode its own (rows that disagree are listed by the pre-check)."""
    frame = episodes_frame(count=4, length=90)
    frame = frame[(frame.episode != 1) | (frame.time < 35 * 0.02)]  # episode 1 has 35 steps
    frame.to_csv(tmp_path / "mixed.csv", index=False)
    config = TimeSeriesJepaConfig.from_preset("tiny", test_fraction=0.0)
    train = load_dataset(str(tmp_path / "mixed.csv"), "train", config)
    length = train.tensors["series"].shape[2]
    assert length == 35 and len(train) == train.num_trajectories * (35 - 31 + 1)
    anchors = {(e, int(i.split("@")[1]) + a) for e, i in zip(train.episode_ids, train.ids, strict=True)
               for a in range(15, 20)}  # anchor steps the collator draws in a piece  # fmt: skip
    for episode, steps in ((0, 90), (1, 35), (3, 90)):
        assert {a for e, a in anchors if e == str(episode)} == set(range(15, steps - 15)), episode
    assert train.tensors["labels"][[i for i, e in enumerate(train.episode_ids) if e == "1"]].eq(1).all()
    frame.loc[frame.index[-1], "label"] = 0  # the last row of episode 3 disagrees
    frame.to_csv(tmp_path / "mixed.csv", index=False)
    with pytest.raises(ValueError, match=r"\[episode 3\]: its rows disagree on the label \(0, 1\)"):
        load_dataset(str(tmp_path / "mixed.csv"), "train", config)
