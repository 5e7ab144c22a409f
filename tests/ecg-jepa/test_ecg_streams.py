"""`jepa pretrain ecg-jepa --data SHARDS` streams Parquet and tar shards of 3-lead records at 250 Hz in a fresh
interpreter: the leads and the statistics come from the first records, bad records are named or left out, and the
map-style verbs read the same shards."""

import io
import json
import math
import tarfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ecg_jepa import EcgJepaConfig, EcgJepaProcessor
from jepa_cli import jepa, jepa_ok

LEADS, RATE, SECONDS = ["V1", "II", "V5"], 250, 6  # not the standard order, not 500 Hz, not 12 leads


def record(seed: int, seconds: float = SECONDS) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    beats = np.sin(2 * np.pi * rng.uniform(0.9, 1.6) * t) ** 15  # narrow peaks, about one a second
    return np.stack([(1 + lead) * beats + 0.05 * rng.normal(size=len(t)) for lead in range(len(LEADS))])


def write_parquet(folder, shards: int = 3, per_shard: int = 3) -> list[np.ndarray]:
    folder.mkdir(parents=True)
    signals = []
    for shard in range(shards):
        rows = [record(per_shard * shard + i) for i in range(per_shard)]
        signals += rows
        table = pa.table({"signal": [r.astype(np.float32).tolist() for r in rows], "sampling_rate": [RATE] * per_shard,
                          "lead_names": [LEADS] * per_shard, "label": ["slow" if i % 2 else "fast" for i in
                          range(per_shard)]})  # fmt: skip
        pq.write_table(table, folder / f"part-{shard:03d}.parquet")
    return signals


def pretrain(data, run, *extra: str):
    return jepa("pretrain", "ecg-jepa", "--data", str(data), "--preset", "tiny", "--max-steps", "2", "--batch-size",
                "4", "--save-every", "1", "--threads", "1", "--output-dir", str(run), *extra)  # fmt: skip


@pytest.mark.slow
def test_parquet_shards_stream_and_size_the_model(tmp_path):
    signals = write_parquet(tmp_path / "shards")
    done = pretrain(tmp_path / "shards", tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "run"
    config = json.loads((run / "config.json").read_text())
    assert config["num_leads"] == 3 and config["lead_names"] == ["II", "V1", "V5"]  # the records', standard order
    saved = json.loads((run / "preprocessor_config.json").read_text())
    tiny = EcgJepaConfig.from_preset("tiny")
    expected = EcgJepaProcessor(tiny.sampling_rate, ["II", "V1", "V5"], min_samples=tiny.patch_size)
    expected.fit_records([(s.astype(np.float32), RATE, LEADS) for s in signals])  # all 9: fewer than 256
    np.testing.assert_allclose(saved["lead_mean"], expected.lead_mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(saved["lead_std"], expected.lead_std, rtol=1e-9)
    assert saved["clip_value"] == pytest.approx(expected.clip_value, rel=1e-9)
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert [row["step"] for row in history] == [1, 2] and all(math.isfinite(row["loss"]) for row in history)
    # the map-style verbs read the shards too: one embedding per record, ids are row numbers
    jepa_ok("embed", str(run), "--data", str(tmp_path / "shards"), "--output", str(tmp_path / "e.parquet"))
    table = pd.read_parquet(tmp_path / "e.parquet")
    assert sorted(table["id"], key=int) == [str(i) for i in range(9)]
    assert np.isfinite(np.stack(table["embedding"])).all()


def tar_member(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


@pytest.mark.slow
def test_tar_shards_name_a_bad_record_or_leave_it_out(tmp_path):
    """`.npy` signals with a `.json` of rate and leads; one record lasts 1 s, less than the 1250-sample input."""
    shards = tmp_path / "tar"
    shards.mkdir()
    for shard in range(2):
        with tarfile.open(shards / f"{shard:03d}.tar", "w") as archive:
            for i in range(3):
                key, seconds = f"s{shard}r{i}", 1 if (shard, i) == (1, 1) else SECONDS
                buffer = io.BytesIO()
                np.save(buffer, record(10 * shard + i, seconds).astype(np.float32))
                tar_member(archive, f"{key}.npy", buffer.getvalue())
                tar_member(archive, f"{key}.json", json.dumps({"sampling_rate": RATE, "lead_names": LEADS}).encode())
    failed = pretrain(shards, tmp_path / "strict", "--max-steps", "6")
    assert failed.returncode != 0
    assert "001.tar/s1r1" in failed.stderr and "too short" in failed.stderr and "on_bad_file=skip" in failed.stderr
    done = pretrain(shards, tmp_path / "skip", "--set", "on_bad_file=skip", "--max-steps", "6")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "001.tar/s1r1 is left out" in done.stderr
    history = json.loads((tmp_path / "skip" / "metrics.json").read_text())["history"]
    assert len(history) == 6 and all(math.isfinite(row["loss"]) for row in history)
