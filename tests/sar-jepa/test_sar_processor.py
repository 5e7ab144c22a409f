"""GeoTIFF input through rasterio: kinds, dB, complex SLC, bands, nodata, chipping, scaling and bad files."""

import numpy as np
import pytest
import rasterio
import torch
from sar_jepa import SarJepaProcessor
from sar_jepa.processor_sar_jepa import db_to_linear, linear_to_db, write_geotiff
from transformers import AutoImageProcessor


@pytest.fixture
def intensity():
    return np.random.default_rng(0).gamma(4.0, 0.25, (32, 32)).astype(np.float32) * 2.0


def test_db_round_trip_and_values():
    assert db_to_linear(np.array([0.0, 10.0, -20.0])).tolist() == pytest.approx([1.0, 10.0, 0.01])
    assert db_to_linear(np.array([20.0]), "amplitude").tolist() == pytest.approx([10.0])
    x = np.array([0.5, 2.0, 7.0])
    np.testing.assert_allclose(db_to_linear(linear_to_db(x, "amplitude"), "amplitude"), x)


def test_intensity_amplitude_and_db_files_give_the_same_amplitude(tmp_path, intensity):
    expected = np.sqrt(intensity)
    variants = {
        "intensity": (intensity, dict(input_kind="intensity")),
        "amplitude": (np.sqrt(intensity), dict(input_kind="amplitude")),
        "intensity_db": (10 * np.log10(intensity), dict(input_kind="intensity", input_db=True)),
        "amplitude_db": (20 * np.log10(np.sqrt(intensity)), dict(input_kind="amplitude", input_db=True)),
    }
    for name, (array, options) in variants.items():
        path = write_geotiff(tmp_path / f"{name}.tif", array.astype(np.float32))
        raster = SarJepaProcessor(image_size=32, **options).read(path)
        np.testing.assert_allclose(raster.values[0], expected, rtol=1e-4, err_msg=name)
        assert raster.valid.all() and raster.crs == "EPSG:32633"
    as_intensity = SarJepaProcessor(image_size=32, output_kind="intensity").read(tmp_path / "intensity.tif")
    np.testing.assert_allclose(as_intensity.values[0], intensity, rtol=1e-5)


def test_complex_slc_as_complex_band_or_iq_bands(tmp_path):
    rng = np.random.default_rng(1)
    slc = (rng.normal(size=(16, 16)) + 1j * rng.normal(size=(16, 16))).astype(np.complex64)
    complex_file = write_geotiff(tmp_path / "slc.tif", slc)
    iq_file = write_geotiff(tmp_path / "iq.tif", np.stack([slc.real, slc.imag]))
    for path in (complex_file, iq_file):
        raster = SarJepaProcessor(image_size=16, input_kind="complex").read(path)
        np.testing.assert_allclose(raster.values[0], np.abs(slc), rtol=1e-5)
    power = SarJepaProcessor(image_size=16, input_kind="complex", output_kind="intensity").read(complex_file)
    np.testing.assert_allclose(power.values[0], np.abs(slc) ** 2, rtol=1e-5)


def test_multiband_selection_and_wrong_band_count(tmp_path, intensity):
    path = write_geotiff(tmp_path / "dual.tif", np.stack([intensity, 4 * intensity]))  # e.g. VV, VH
    with pytest.raises(ValueError, match="has 2 band\\(s\\).*pick them with bands="):
        SarJepaProcessor(image_size=32).read(path)
    second = SarJepaProcessor(image_size=32, bands=(2,)).read(path)
    np.testing.assert_allclose(second.values[0], 2 * np.sqrt(intensity), rtol=1e-5)
    both = SarJepaProcessor(image_size=32, num_channels=2).read(path)
    assert both.values.shape == (2, 32, 32)
    assert SarJepaProcessor(image_size=32, num_channels=2)(path)["pixel_values"].shape == (1, 2, 32, 32)
    with pytest.raises(ValueError, match="bands 1..2"):
        SarJepaProcessor(image_size=32, bands=(3,)).read(path)


def test_nodata_and_nan_are_masked_and_filled_with_the_median(tmp_path, intensity):
    array = intensity.copy()
    array[:4] = -9999.0
    array[10, 10] = np.nan
    path = write_geotiff(tmp_path / "holes.tif", array, nodata=-9999.0)
    processor = SarJepaProcessor(image_size=32, clip_value=10.0)
    raster = processor.read(path)
    assert (~raster.valid).sum() == 4 * 32 + 1 and not raster.valid[10, 10]
    x = processor(raster)["pixel_values"][0, 0]
    median = np.median(np.sqrt(intensity)[raster.valid]) / 10.0
    assert x[0, 0].item() == pytest.approx(median, rel=1e-5) and x[10, 10].item() == pytest.approx(median, rel=1e-5)
    assert x[20, 20].item() == pytest.approx(np.sqrt(intensity[20, 20]) / 10.0, rel=1e-5)


def test_all_nodata_chip_is_an_error_and_is_skipped_by_chipping(tmp_path, intensity):
    array = np.tile(intensity, (1, 2))
    array[:, 32:] = -1.0
    path = write_geotiff(tmp_path / "half.tif", array, nodata=-1.0)
    processor = SarJepaProcessor(image_size=32)
    tiles = processor.chip(path, 32, 32)
    assert [t.window for t in tiles] == [(0, 0, 32, 32)]  # the all-nodata right tile is dropped
    empty = write_geotiff(tmp_path / "empty.tif", np.full((32, 32), -1.0, np.float32), nodata=-1.0)
    with pytest.raises(ValueError, match="only 0% of the pixels are valid"):
        processor(empty)


def test_chipping_keeps_georeferencing(tmp_path):
    scene = np.random.default_rng(2).gamma(1.0, 1.0, (64, 96)).astype(np.float32)
    path = write_geotiff(tmp_path / "scene.tif", scene, origin=(600_000.0, 5_000_000.0), pixel_size=2.5)
    tiles = SarJepaProcessor(image_size=32).chip(path, 32, 32)
    assert len(tiles) == 2 * 3
    tile = tiles[4]  # second row, second column
    assert tile.window == (32, 32, 32, 32)
    assert tile.transform == pytest.approx((2.5, 0.0, 600_000.0 + 32 * 2.5, 0.0, -2.5, 5_000_000.0 - 32 * 2.5))
    np.testing.assert_allclose(tile.values[0], np.sqrt(scene[32:64, 32:64]), rtol=1e-5)
    with rasterio.open(path) as src:
        assert src.xy(32, 32, offset="ul") == (tile.transform[2], tile.transform[5])
    with pytest.raises(ValueError, match="smaller than one 128×128 tile"):
        SarJepaProcessor().chip(path, 128)


def test_scaling_resizing_and_saved_normalisation(tmp_path, intensity):
    processor = SarJepaProcessor(image_size=16)
    raster = processor.read(write_geotiff(tmp_path / "a.tif", intensity))
    per_chip = processor.prepare(raster)
    assert per_chip.shape == (1, 16, 16) and per_chip.min() >= 0 and per_chip.max() <= 1
    processor.fit([raster])
    assert processor.clip_value == pytest.approx(np.percentile(np.sqrt(intensity), 99.0), rel=1e-5)
    processor.save_pretrained(tmp_path / "run")
    assert (tmp_path / "run" / "preprocessor_config.json").is_file()
    loaded = AutoImageProcessor.from_pretrained(tmp_path / "run")  # a transformers image processor
    assert type(loaded) is SarJepaProcessor and loaded == processor and loaded.clip_value == processor.clip_value
    inputs = loaded([raster, raster], return_tensors="pt")
    assert list(inputs.keys()) == ["pixel_values"] and inputs["pixel_values"].shape == (2, 1, 16, 16)
    assert torch.equal(inputs["pixel_values"][0], processor.prepare(raster))
    assert torch.equal(loaded(intensity)["pixel_values"], processor(intensity)["pixel_values"])  # arrays too


def test_bad_input_errors(tmp_path, intensity):
    processor = SarJepaProcessor(image_size=32)
    negative = write_geotiff(tmp_path / "neg.tif", intensity - 1.0)
    with pytest.raises(ValueError, match="negative intensity values.*input_db=True"):
        processor.read(negative)
    good = write_geotiff(tmp_path / "good.tif", np.tile(intensity, (4, 4)))
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        processor.read(truncated)
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00" + b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        processor.read(corrupt)
    small = write_geotiff(tmp_path / "small.tif", intensity[:6, :6])
    with pytest.raises(ValueError, match="6×6 px, more than 4× smaller than the model input 32"):
        processor(small)
    with pytest.raises(ValueError, match="input_kind"):
        SarJepaProcessor(input_kind="sigma0")
