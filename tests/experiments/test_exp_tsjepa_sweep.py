"""The TS-JEPA capacity × devices sweep (experiments/tsjepa_sweep): rows, table, plot and README block."""

import math

import pytest
import torch
from tsjepa import TimeSeriesJepaConfig, TimeSeriesJepaModel

from experiments.tsjepa_sweep.study import TABLE_END, TABLE_START, markdown_table, plot, run_sweep, update_readme

CAPACITIES, DEVICES = [300, 1200], [4, 16]
POLICIES = ("tsjepa", "tsjepa_hold", "raw_window", "raw_reading", "expert")


@pytest.fixture(scope="module")
def rows():
    torch.set_num_threads(1)
    config = TimeSeriesJepaConfig.from_preset(
        "tiny", num_train_trajectories=64, num_test_trajectories=8, actor_epochs=10, control_steps=80
    )
    torch.manual_seed(0)
    return run_sweep(TimeSeriesJepaModel(config).eval(), CAPACITIES, DEVICES, POLICIES)


def test_sweep_rows_respect_the_capacity_and_have_sane_values(rows):
    assert len(rows) == len(CAPACITIES) * len(DEVICES) * len(POLICIES)
    for row in rows:
        assert row["fits"] == (row["capacity_bits"] >= row["packet_bits"])
        assert row["bits_per_step"] <= row["capacity_bits"]
        if row["fits"]:
            assert 0 <= row["within_tolerance"] <= 1 and 0 <= row["upright"] <= 1
            assert math.isfinite(row["command_nmae"]) and row["command_nmae"] >= 0
            # no device sends more than one packet per step
            assert row["bits_per_step"] <= row["devices"] * row["packet_bits"]
    by_key = {(r["devices"], r["capacity_bits"], r["policy"]): r for r in rows}
    assert not by_key[(4, 300, "raw_window")]["fits"]  # 16 readings × 4 channels × 8 bits + 32 > 300
    assert by_key[(16, 1200, "tsjepa")]["bits_per_step"] == 4 * 288  # four 32-d embeddings fit
    assert by_key[(4, 300, "expert")]["command_nmae"] == 0.0
    for devices in DEVICES:  # more capacity never makes the raw baseline much worse
        low, high = by_key[(devices, 300, "raw_reading")], by_key[(devices, 1200, "raw_reading")]
        assert high["command_nmae"] <= 1.1 * low["command_nmae"] + 0.05
        assert high["bits_per_step"] >= low["bits_per_step"]


def test_sweep_table_plot_and_readme_block(rows, tmp_path):
    table = markdown_table(rows).splitlines()
    assert len(table) == 2 + len(CAPACITIES) * len(DEVICES)
    assert all(line.count("|") == len(POLICIES) + 3 for line in table)
    assert table[2].startswith("| 4 | 300 |") and "does not fit" in table[2]
    picture = tmp_path / "docs" / "sweep.png"
    plot(rows, str(picture))
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{TABLE_START}\nOLD-TABLE\n{TABLE_END}\nrest\n")
    update_readme(str(readme), "\n".join(table), "python -m experiments.tsjepa_sweep.study")
    update_readme(str(readme), "\n".join(table), "python -m experiments.tsjepa_sweep.study")  # idempotent
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "OLD-TABLE" not in text
    assert text.count(table[0]) == 1
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        update_readme(str(readme), "x", "y")
