"""A user's own GeoTIFF scenes (amplitude and dB, larger than the model's chips) through the `jepa` command."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from jepa_core.overrides import ConfigFieldError
from sar_jepa import SarJepaConfig
from sar_jepa.data import input_kind_of, load_dataset

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
HEIGHT, WIDTH = 96, 128  # 3 × 4 chips of the tiny preset's 32 px


def jepa(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "jepa_core", *args], env=ENV, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def write_scene(path, array: np.ndarray, tags: dict | None = None, description: str | None = None) -> None:
    profile = dict(driver="GTiff", height=array.shape[0], width=array.shape[1], count=1, dtype="float32",
                   crs="EPSG:32633", transform=rasterio.transform.from_origin(500_000, 4_500_000, 10, 10))  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array.astype(np.float32)[None])
        if tags:
            dst.update_tags(**tags)
        if description:
            dst.set_band_description(1, description)


def amplitude_scene(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sqrt(rng.gamma(4.0, 0.25, (HEIGHT, WIDTH))) * (1 + np.arange(WIDTH) / WIDTH)


def test_input_kind_is_read_from_tags_or_values_or_asked_for(tmp_path):
    write_scene(tmp_path / "a.tif", amplitude_scene(0), {"SAR_INPUT_KIND": "amplitude"})
    write_scene(tmp_path / "b.tif", amplitude_scene(1), description="Sigma0_VV")
    write_scene(tmp_path / "c.tif", 10 * np.log10(amplitude_scene(2) ** 2))  # dB: negative values
    write_scene(tmp_path / "d.tif", amplitude_scene(3))  # nothing says what it is
    assert input_kind_of([tmp_path / "a.tif"], "auto") == ("amplitude", False)
    assert input_kind_of([tmp_path / "b.tif"], "auto") == ("intensity", False)
    assert input_kind_of([tmp_path / "c.tif"], "auto") == ("intensity", True)
    assert input_kind_of([tmp_path / "d.tif"], "db") == ("intensity", True)
    with pytest.raises(ConfigFieldError, match="intensity .* or amplitude") as error:
        input_kind_of([tmp_path / "d.tif"], "auto")
    assert error.value.field == "input_kind"
    with pytest.raises(ConfigFieldError, match="different input kinds"):
        input_kind_of([tmp_path / "a.tif", tmp_path / "b.tif"], "auto")


def test_the_precheck_lists_every_bad_scene(tmp_path):
    write_scene(tmp_path / "good.tif", amplitude_scene(0), {"SAR_INPUT_KIND": "amplitude"})
    write_scene(tmp_path / "nan.tif", np.full((HEIGHT, WIDTH), np.nan), {"SAR_INPUT_KIND": "amplitude"})
    write_scene(tmp_path / "tiny.tif", amplitude_scene(1)[:4, :4], {"SAR_INPUT_KIND": "amplitude"})
    write_scene(tmp_path / "strip.tif", amplitude_scene(2)[:20], {"SAR_INPUT_KIND": "amplitude"})
    (tmp_path / "broken.tif").write_bytes(b"II*\x00 not a tiff")
    config = SarJepaConfig.from_preset("tiny")
    with pytest.raises(ValueError, match="4 of 5 input files") as error:
        load_dataset(tmp_path, "train", config)
    message = str(error.value)
    assert "nan.tif: no valid pixel" in message and "tiny.tif: 4×4 px" in message, message
    assert "strip.tif: 20×128 px: longer than image_size 32 on one side only" in message, message
    assert "broken.tif: unreadable" in message and "on_bad_file=skip" in message, message
    kept = load_dataset(tmp_path, "all", SarJepaConfig.from_preset("tiny", on_bad_file="skip"))
    assert len(kept) == 12 and kept.ids[0] == "good-r0c0"  # 3 × 4 chips of the good scene, nothing resized
    assert sorted(kept.skipped_files) == [str(tmp_path / f"{n}.tif") for n in ("broken", "nan", "strip", "tiny")]
    again = load_dataset(tmp_path / "good.tif", "all", config)  # nothing carried over from the skipping load
    assert len(again) == 12 and again.skipped_files == ()


@pytest.mark.slow
def test_amplitude_and_db_scenes_through_the_cli(tmp_path):
    amp, db, run = tmp_path / "amp", tmp_path / "db", tmp_path / "run"
    for folder in (amp, db):
        for name in ("field", "forest"):
            (folder / name).mkdir(parents=True)
    for i in range(5):
        for label, name in enumerate(("field", "forest")):
            scene = amplitude_scene(10 * i + label) * (1 + label)
            write_scene(amp / name / f"{i}.tif", scene, {"SAR_INPUT_KIND": "amplitude"})
            write_scene(db / name / f"{i}.tif", 20 * np.log10(scene), {"UNITS": "dB"})
    jepa("pretrain", "sar-jepa", "--preset", "tiny", "--data", str(db), "--max-steps", "2", "--batch-size", "8",
         "--output-dir", str(run), "--threads", "1")  # fmt: skip
    jepa("embed", str(run), "--data", str(db), "--output", str(run / "e.parquet"))
    out = jepa("evaluate", str(run), "--data", str(db)).stdout
    assert np.isfinite(json.loads(out[out.index("{") :])["linear_probe_accuracy"])
    code = f"""
import numpy as np, pandas as pd, rasterio, torch, sar_jepa
from transformers import AutoModel, AutoProcessor
from rasterio.windows import Window
from pathlib import Path
from sar_jepa import SarJepaConfig
from sar_jepa.data import load_dataset
run, amp, db = Path({str(run)!r}), Path({str(amp)!r}), Path({str(db)!r})
processor = AutoProcessor.from_pretrained(run)
assert processor.input_kind == "intensity" and processor.input_db  # read from the UNITS=dB tag
train = [p for c in ("field", "forest") for i, p in enumerate(sorted((amp / c).glob("*.tif"))) if i % 5 != 4]
pixels = np.concatenate([rasterio.open(p).read(1).ravel() for p in train])
assert abs(processor.clip_value - np.percentile(pixels, 99)) < 1e-3 * processor.clip_value  # fitted on train files
table = pd.read_parquet(run / "e.parquet")
assert len(table) == 10 * 12 and table["id"].iloc[0] == "field/0-r0c0" and table["id"].iloc[1] == "field/0-r0c32"
encoder = AutoModel.from_pretrained(run).eval()
with rasterio.open(db / "field" / "0.tif") as src:
    chip = src.read(1, window=Window(32, 0, 32, 32))
with torch.no_grad():
    hidden = encoder(**processor(chip, return_tensors="pt")).last_hidden_state
mine = hidden[:, encoder.config.num_register_tokens:].mean(1)[0].numpy()
np.testing.assert_allclose(np.asarray(table["embedding"].iloc[1]), mine, atol=1e-4)
# the amplitude scenes (tagged SAR_INPUT_KIND=amplitude) give the same chips as their dB copies
amplitude = load_dataset(amp, "all", SarJepaConfig.from_preset("tiny"))
assert amplitude.processor.input_kind == "amplitude" and len(amplitude) == 120
torch.testing.assert_close(amplitude.pixel_values, load_dataset(db, "all", encoder.config, processor).pixel_values,
                           atol=1e-4, rtol=0)
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]
