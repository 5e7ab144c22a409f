"""Shard files for pretraining (`jepa_core.streams`): discovery, the metadata pre-check, and records → samples."""

import io
import logging
import tarfile
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from jepa_core.data_checks import BadFilesError
from jepa_core.streams import EVERY_COLUMN, Column, StreamFormat, check_shards, find_shards, shard_table, stream_dataset

SIGNAL = (Column("signal", ("x", "npy")), Column("label", ("label", "cls"), required=False))


def write_parquet(path, start: int, rows: int = 4, column: str = "x") -> None:
    values = [list(np.arange(6, dtype=np.float32) + 10 * i) for i in range(start, start + rows)]
    pq.write_table(pa.table({column: values, "label": list(range(start, start + rows))}), path)


def write_tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def npy(values) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(values, dtype=np.float32))
    return buffer.getvalue()


def test_shards_are_found_in_folders_globs_files_and_split_folders(tmp_path, caplog):
    for i in (1, 0, 2):
        write_parquet(tmp_path / f"part-{i}.parquet", 4 * i)
    (tmp_path / "README.md").write_text("about the shards")
    with caplog.at_level(logging.WARNING):
        shards = find_shards(tmp_path)
    assert shards.builder == "parquet" and [f.name for f in shards.files] == [f"part-{i}.parquet" for i in range(3)]
    assert "1 files that are not shards are left out (README.md)" in caplog.text and not shards.by_split
    assert [f.name for f in find_shards(f"{tmp_path}/part-[12].parquet").files] == ["part-1.parquet", "part-2.parquet"]
    assert find_shards(tmp_path / "part-2.parquet").files == (tmp_path / "part-2.parquet",)
    split = tmp_path / "split"
    for name in ("train", "test"):
        (split / name).mkdir(parents=True)
        write_tar(split / name / "000.tar", {"a.npy": npy([1.0])})
    assert find_shards(split, "test").files == (split / "test" / "000.tar",) and find_shards(split, "test").by_split
    assert len(find_shards(split, "all").files) == 2 and find_shards(split, "train").builder == "webdataset"
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "0.png").write_bytes(b"")
    assert find_shards(tmp_path / "images") is None and find_shards(tmp_path / "images" / "0.png") is None


def test_mixed_formats_and_empty_globs_are_refused(tmp_path):
    write_parquet(tmp_path / "a.parquet", 0)
    write_tar(tmp_path / "b.tar", {"k.npy": npy([1.0])})
    with pytest.raises(ValueError, match=r"mixes shard formats \(1 \.parquet, 1 \.tar\)"):
        find_shards(tmp_path)
    with pytest.raises(FileNotFoundError, match="matches no file"):
        find_shards(f"{tmp_path}/*.arrow")
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ValueError, match="notes.txt, not a shard file"):
        find_shards(f"{tmp_path}/*.t*")


def test_truncated_empty_and_unreadable_shards_are_listed_together(tmp_path):
    for i in range(2):
        write_parquet(tmp_path / f"{i}.parquet", 4 * i)
    whole = (tmp_path / "1.parquet").read_bytes()
    (tmp_path / "1.parquet").write_bytes(whole[: len(whole) // 2])  # a copy that was cut short
    pq.write_table(pa.table({"x": pa.array([], pa.list_(pa.float32()))}), tmp_path / "2.parquet")
    (tmp_path / "3.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(BadFilesError, match="3 of 4 input files cannot be used") as error:
        check_shards(find_shards(tmp_path), SIGNAL)
    message = str(error.value)
    assert "1.parquet: unreadable" in message and "2.parquet: holds no records" in message
    assert "3.parquet: unreadable" in message and "--set on_bad_file=skip" in message
    shards, roles = check_shards(find_shards(tmp_path), SIGNAL, policy="skip")
    assert [f.name for f in shards.files] == ["0.parquet"] and roles == {"signal": "x", "label": "label"}


def test_truncated_tar_and_arrow_shards_are_found_from_their_headers(tmp_path):
    tars = tmp_path / "tars"
    tars.mkdir()
    for i in range(2):
        write_tar(tars / f"{i}.tar", {f"k{j}.npy": npy(np.ones(3000)) for j in range(3)})
    cut = (tars / "1.tar").read_bytes()
    (tars / "1.tar").write_bytes(cut[:5000])
    with pytest.raises(BadFilesError, match="1.tar: unreadable"):
        check_shards(find_shards(tars), SIGNAL)
    arrows = tmp_path / "arrows"
    arrows.mkdir()
    for i in range(2):
        table = pa.table({"x": [[float(v)] * 500 for v in range(5)]})
        with pa.ipc.new_stream(arrows / f"{i}.arrow", table.schema) as writer:
            writer.write_table(table)
    data = (arrows / "1.arrow").read_bytes()
    (arrows / "1.arrow").write_bytes(data[: len(data) - 3000])
    with pytest.raises(BadFilesError, match="1 of 2 input files") as error:
        check_shards(find_shards(arrows), SIGNAL)
    assert "1.arrow: unreadable" in str(error.value)


def test_missing_columns_and_records_name_the_shard_and_the_fix(tmp_path):
    write_parquet(tmp_path / "0.parquet", 0, column="values")
    with pytest.raises(ValueError, match=r"0.parquet has the columns \['values', 'label'\], but a column is needed "
                       r"for signal: one of x, npy; rename the column"):  # fmt: skip
        check_shards(find_shards(tmp_path / "0.parquet"), SIGNAL)
    tars = tmp_path / "tars"
    tars.mkdir()
    write_tar(tars / "0.tar", {"a.npy": npy([1.0]), "a.cls": b"1", "b.cls": b"0", "c.npy": npy([2.0])})
    with pytest.raises(BadFilesError, match="0.tar: the records b have no .npy file"):
        check_shards(find_shards(tars), SIGNAL)
    write_tar(tars / "0.tar", {"a.npy": npy([1.0]), "a.cls": b"1"})
    write_tar(tars / "1.tar", {"b.npy": npy([1.0])})  # no labels in this one
    with pytest.raises(ValueError, match="the shards differ in layout: .*0.tar reads .*'label': 'cls'"):
        check_shards(find_shards(tars), SIGNAL)


def _centered(fit_records: int = 3) -> SimpleNamespace:
    """A domain whose samples are the signal minus the mean of the records its processor was fitted on."""

    def samples(record, processor):
        signal = torch.as_tensor(np.asarray(record["signal"], dtype=np.float32))
        if signal.sum() < 0:
            raise ValueError("negative signal")
        return [{"inputs": signal - processor["mean"]}] * (2 if record.get("label") == 5 else 1)

    def processor(records):
        return {
            "mean": float(np.mean([np.asarray(r["signal"]) for r in records])),
            "names": [r["__name__"] for r in records],
        }  # noqa: E501

    return SimpleNamespace(stream_format=lambda config: StreamFormat(SIGNAL, samples, processor, fit_records))


def test_records_become_samples_with_a_processor_fitted_on_the_first_records(tmp_path):
    for i in range(3):
        write_parquet(tmp_path / f"{i}.parquet", 4 * i)
    config = SimpleNamespace(on_bad_file="error")
    stream = stream_dataset(_centered(), config, tmp_path)
    assert stream.n_shards == 3 and stream.processor["mean"] == pytest.approx(2.5 + 10)  # records 0, 1, 2
    values = [sample["inputs"] for sample in stream]
    assert len(values) == 13  # 12 records, record 5 gives two samples
    assert torch.equal(values[0], torch.arange(6.0) - 12.5) and torch.equal(values[5], values[6])
    assert torch.equal(values[-1], torch.arange(6.0) + 110 - 12.5)
    given = stream_dataset(_centered(), config, tmp_path, processor={"mean": 0.0})
    assert given.processor == {"mean": 0.0} and torch.equal(next(iter(given))["inputs"], torch.arange(6.0))


def test_a_bad_record_stops_the_stream_naming_it_or_is_skipped(tmp_path, caplog):
    write_tar(tmp_path / "000.tar", {"a.npy": npy([1.0, 2.0]), "b.npy": npy([-5.0, 1.0]), "c.npy": npy([3.0, 4.0])})
    stream = stream_dataset(_centered(fit_records=1), SimpleNamespace(on_bad_file="error"), tmp_path)
    assert stream.processor["names"] == ["000.tar/a"]
    with pytest.raises(ValueError, match=r"000.tar/b: negative signal. Fix or remove it, or leave bad records out "
                       r"with --set on_bad_file=skip"):  # fmt: skip
        list(stream)
    skipping = stream_dataset(_centered(fit_records=1), SimpleNamespace(on_bad_file="skip"), tmp_path)
    with caplog.at_level(logging.WARNING):
        kept = [sample["inputs"].tolist() for sample in skipping]
    assert kept == [[-0.5, 0.5], [1.5, 2.5]] and "000.tar/b is left out: negative signal" in caplog.text


def test_shards_read_map_style_keep_the_roles(tmp_path):
    write_tar(tmp_path / "000.tar", {"a.npy": npy([1.0]), "a.cls": b"3", "b.npy": npy([2.0]), "b.cls": b"4"})
    table = shard_table(find_shards(tmp_path), SIGNAL)
    assert set(table.column_names) == {"signal", "label", "__key__", "__url__"} and table["label"][:] == [3, 4]
    assert table[1]["__key__"] == "b" and np.asarray(table[1]["signal"]).tolist() == [2.0]


def test_shards_named_after_their_split_and_every_column_of_a_table(tmp_path):
    """`train-*` / `test-*` shard files are the splits (as `train/`, `test/` folders are); `EVERY_COLUMN` reads a
    table's columns under their names, in the shard's order."""
    for name, start in (("train-00000-of-00002", 0), ("train-00001-of-00002", 4), ("test", 8)):
        pq.write_table(pa.table({"z": [start, start + 1], "a": ["x", "y"]}), tmp_path / f"{name}.parquet")
    train, test = find_shards(tmp_path, "train"), find_shards(tmp_path, "test")
    assert [f.name for f in train.files] == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    assert train.by_split and [f.name for f in test.files] == ["test.parquet"]
    assert len(find_shards(tmp_path, "all").files) == 3
    write_parquet(tmp_path / "part-0.parquet", 0)  # no longer every shard is named after a split: all are read
    assert len(find_shards(tmp_path, "train").files) == 4 and not find_shards(tmp_path, "train").by_split
    table = shard_table(test, (Column(EVERY_COLUMN, (), required=False),))
    assert table.column_names == ["z", "a"] and table["z"][:] == [8, 9]
