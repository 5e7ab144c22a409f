"""The `jepa` command as users run it, in fresh interpreters: pretrain → evaluate → score → embed on a small audio
folder, the saved processor through AutoProcessor, identical embeddings after a reload, and `--set` hints."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch
from jepa_cli import ENV, jepa

pytestmark = pytest.mark.slow  # fresh interpreters, as users run the command

RATE = 16000


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=600)


def json_of(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("{") : stdout.rindex("}") + 1])


def write_clip(path, kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(1.3 * RATE)) / RATE
    wave = np.sin(2 * np.pi * (300 + 50 * seed) * t) if kind == "tone" else rng.standard_normal(len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, 0.3 * wave / np.abs(wave).max(), RATE)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 5-step tiny run on a folder of 12 clips (train/ and test/, 2 classes)."""
    root = tmp_path_factory.mktemp("ajepa_cli")
    data = root / "data"
    for split, offset in (("train", 0), ("test", 10)):
        for kind in ("tone", "noise"):
            for i in range(3):
                write_clip(data / split / kind / f"{i}.wav", kind, offset + i)
    out = root / "run"
    result = jepa(
        "pretrain", "ajepa", "--preset", "tiny", "--data", str(data), "--max-steps", "5", "--batch-size", "4",
        "--output-dir", str(out), "--threads", "1", "--save-every", "100",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out, data


def test_pretrain_saves_the_processor(run):
    out, _ = run
    assert (out / "preprocessor_config.json").is_file() and (out / "config.json").is_file()
    saved = json.loads((out / "preprocessor_config.json").read_text())
    assert saved["feature_extractor_type"] == "AudioJepaProcessor" and saved["target_length"] == 128


def test_evaluate_prints_the_headline(run):
    out, data = run
    result = jepa("evaluate", str(out), "--data", str(data))
    assert result.returncode == 0, result.stderr
    metrics = json_of(result.stdout)
    assert metrics["headline_metric"] == "linear_probe_accuracy"
    assert np.isfinite(metrics["linear_probe_accuracy"]) and 0 <= metrics["linear_probe_accuracy"] <= 1


def test_score_and_embed(run):
    out, data = run
    result = jepa("score", str(out), "--num-samples", "2", "--data", str(data))
    assert result.returncode == 0, result.stderr
    scores = json_of(result.stdout)["jepa_score"]
    assert len(scores) == 2 and np.isfinite(scores).all()
    result = jepa("embed", str(out), "--output", str(out / "e.parquet"), "--data", str(data))
    assert result.returncode == 0, result.stderr
    table = pd.read_parquet(out / "e.parquet")
    assert len(table) == 12 and table["id"].iloc[0] == "train/noise/0.wav"  # every clip of both splits
    embeddings = np.stack(table["embedding"])
    assert embeddings.shape == (12, 64) and np.isfinite(embeddings).all()
    assert sorted(set(table["label"])) == [0, 1]


def test_reload_in_a_fresh_interpreter_gives_the_same_embeddings(run):
    out, data = run
    clip = str(data / "test" / "tone" / "0.wav")
    code = f"""
import numpy as np, torch, ajepa
from transformers import AutoFeatureExtractor, AutoModel, AutoProcessor
processor = AutoProcessor.from_pretrained({str(out)!r})
assert type(processor) is ajepa.AudioJepaProcessor, type(processor)
assert type(AutoFeatureExtractor.from_pretrained({str(out)!r})) is ajepa.AudioJepaProcessor
model = AutoModel.from_pretrained({str(out)!r}).eval()
with torch.no_grad():
    hidden = model(**processor({clip!r}, return_tensors="pt")).last_hidden_state
np.save({str(out / "fresh.npy")!r}, hidden.numpy())
"""
    result = python(code)
    assert result.returncode == 0, result.stderr
    import ajepa  # noqa: F401
    from transformers import AutoModel, AutoProcessor

    processor, model = AutoProcessor.from_pretrained(out), AutoModel.from_pretrained(out).eval()
    wave, rate = soundfile.read(clip, dtype="float32")
    with torch.no_grad():
        hidden = model(**processor(wave, sampling_rate=rate)).last_hidden_state
    np.testing.assert_array_equal(np.load(out / "fresh.npy"), hidden.numpy())


def test_config_field_error_names_the_set_flag(tmp_path):
    result = jepa("pretrain", "ajepa", "--set", "target_length=100", "--output-dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "--set target_length=96" in result.stderr


def test_user_clips_at_three_rates_with_too_short_ones(tmp_path):
    """Clips at 8, 16 and 44.1 kHz (one stereo, one a float file holding int16-scale values, one 4 s long), and
    two shorter than one patch (< 175 ms): the pre-check lists both at once, `on_bad_file=skip` leaves them out,
    the fbank statistics are fitted on the kept train clips, and a long clip gives several windows."""
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    rates = (8000, 16000, 44100)
    for split in ("train", "test"):
        for label, base in (("low", 250), ("high", 2500)):
            for i, rate in enumerate(rates):
                t = np.arange(int(1.2 * rate)) / rate  # 118 frames: one window
                wave = 0.3 * np.sin(2 * np.pi * (base + 40 * i) * t) + 0.01 * rng.standard_normal(len(t))
                path = data / split / label / f"{rate}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(path, np.stack([wave, wave], axis=1) if rate == 44100 else wave, rate)
    long = np.sin(2 * np.pi * 300 * np.arange(4 * 16000) / 16000)
    soundfile.write(data / "test" / "low" / "long.wav", 0.3 * long, 16000)
    loud = np.round(0.3 * 32767 * np.sin(2 * np.pi * 2600 * np.arange(16000) / 16000))
    soundfile.write(data / "train" / "high" / "int16_scale.wav", loud.astype(np.float32), 16000, subtype="FLOAT")
    short = [data / "train" / "low" / "short.wav", data / "train" / "high" / "short.wav"]
    for path, rate in zip(short, (8000, 44100), strict=True):
        soundfile.write(path, 0.3 * np.sin(2 * np.pi * 500 * np.arange(int(0.1 * rate)) / rate), rate)
    out = tmp_path / "run"
    common = ["--max-steps", "2", "--batch-size", "4", "--output-dir", str(out), "--threads", "1"]
    refused = jepa("pretrain", "ajepa", "--data", str(data), *common)
    assert refused.returncode == 2
    assert "2 of 9 input files cannot be used" in refused.stderr and "--set on_bad_file=skip" in refused.stderr
    assert all(f"{path}: too short: 100 ms" in refused.stderr for path in short)
    result = jepa("pretrain", "ajepa", "--data", str(data), "--set", "on_bad_file=skip", *common)
    assert result.returncode == 0, result.stderr
    assert "2 of 9 input files are left out" in result.stderr and "int16-scale" in result.stderr

    import ajepa  # noqa: F401
    from transformers import AutoConfig, AutoProcessor

    processor = AutoProcessor.from_pretrained(out)
    kept = sorted(p for p in (data / "train").rglob("*.wav") if p not in short)
    values = torch.cat([processor.fbank(processor.waveform(str(p), None)).flatten().double() for p in kept])
    assert processor.fbank_mean == pytest.approx(values.mean().item(), rel=1e-6)
    assert processor.fbank_std == pytest.approx(values.std(unbiased=False).item(), rel=1e-6)
    assert AutoConfig.from_pretrained(out).fbank_mean == processor.fbank_mean  # the model is built for the data

    result = jepa("embed", str(out), "--data", str(data / "test"), "--output", str(tmp_path / "e.parquet"))
    assert result.returncode == 0, result.stderr
    ids = pd.read_parquet(tmp_path / "e.parquet")["id"].tolist()
    windows = ["low/long.wav@0s", "low/long.wav@1.28s", "low/long.wav@2.56s", "low/long.wav@2.7s"]
    assert [i for i in ids if i.startswith("low/long.wav")] == windows  # 398 frames: every 128, the last at the end
    assert len(ids) == 6 + 4
    result = jepa("evaluate", str(out), "--data", str(data))
    assert result.returncode == 0, result.stderr  # the run's config keeps on_bad_file=skip
    assert "are left out" in result.stderr and 0 <= json_of(result.stdout)["linear_probe_accuracy"] <= 1
