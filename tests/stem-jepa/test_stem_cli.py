"""The `jepa` command as users run it, in fresh interpreters: pretrain → evaluate → score → embed on a small folder
of multitrack songs, the saved processor through AutoProcessor, identical embeddings after a reload, `--set` hints,
and `stem-jepa-rank` with the run's processor."""

import json

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch
from jepa_cli import jepa, python

pytestmark = pytest.mark.slow  # fresh interpreters, as users run the command

RATE = 16000
VOICES = {"soprano": 660.0, "alto": 440.0, "tenor": 330.0, "bass": 165.0}


def json_of(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("{") : stdout.rindex("}") + 1])


def write_song(folder, seed: int, seconds: float = 4.0) -> None:
    """Four stems: a voice each, with its own pitch range, harmonics and note changes every half second."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    folder.mkdir(parents=True, exist_ok=True)
    for index, (name, base) in enumerate(VOICES.items()):
        steps = rng.integers(0, 5, size=int(seconds * 2) + 1)[(t * 2).astype(int)]
        freq = base * 2 ** (steps / 12)
        phase = 2 * np.pi * np.cumsum(freq) / RATE
        wave = sum(np.sin(k * phase) / k ** (index + 1) for k in range(1, 5))
        soundfile.write(folder / f"{name}.wav", 0.4 * wave / np.abs(wave).max(), RATE)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 5-step tiny run on 3 train and 2 test songs of 4 s (2 chunks each)."""
    root = tmp_path_factory.mktemp("stem_cli")
    data = root / "data"
    for split, seeds in (("train", range(3)), ("test", range(10, 12))):
        for seed in seeds:
            write_song(data / split / f"song{seed}", seed)
    out = root / "run"
    result = jepa(
        "pretrain", "stem-jepa", "--preset", "tiny", "--data", str(data), "--max-steps", "5", "--batch-size", "4",
        "--output-dir", str(out), "--threads", "1", "--save-every", "100",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out, data


def test_pretrain_saves_the_processor(run):
    out, _ = run
    saved = json.loads((out / "preprocessor_config.json").read_text())
    assert saved["feature_extractor_type"] == "StemJepaProcessor" and saved["num_frames"] == 256
    assert "mel_filters" not in saved


def test_evaluate_leads_with_the_retrieval_auc(run):
    out, data = run
    result = jepa("evaluate", str(out), "--data", str(data))
    assert result.returncode == 0, result.stderr
    metrics = json_of(result.stdout)
    assert metrics["headline_metric"] == "recall_auc" and np.isfinite(metrics["recall_auc"])
    assert metrics["num_candidates"] == 8  # 2 test songs × 4 stems
    assert 0 <= metrics["linear_probe_accuracy"] <= 1  # instrument of each isolated stem


def test_score_and_embed(run):
    out, data = run
    result = jepa("score", str(out), "--num-samples", "2", "--data", str(data))
    assert result.returncode == 0, result.stderr
    scores = json_of(result.stdout)["jepa_score"]
    assert len(scores) == 2 and np.isfinite(scores).all()
    result = jepa("embed", str(out), "--output", str(out / "e.parquet"), "--data", str(data))
    assert result.returncode == 0, result.stderr
    table = pd.read_parquet(out / "e.parquet")
    assert len(table) == 5 * 2 * 4  # every stem of every chunk of the 5 songs (files in name order)
    assert table["id"].iloc[0] == "song0@0/alto" and sorted(set(table["label"])) == [0, 1, 2, 3]
    embeddings = np.stack(table["embedding"])
    assert embeddings.shape == (40, 64) and np.isfinite(embeddings).all()


def test_reload_in_a_fresh_interpreter_gives_the_same_embeddings(run):
    out, data = run
    stem = str(data / "test" / "song10" / "alto.wav")
    code = f"""
import numpy as np, torch, stem_jepa
from transformers import AutoFeatureExtractor, AutoModel, AutoProcessor
processor = AutoProcessor.from_pretrained({str(out)!r})
assert type(processor) is stem_jepa.StemJepaProcessor, type(processor)
assert type(AutoFeatureExtractor.from_pretrained({str(out)!r})) is stem_jepa.StemJepaProcessor
model = AutoModel.from_pretrained({str(out)!r}).eval()
with torch.no_grad():
    hidden = model(**processor({stem!r}, return_tensors="pt")).last_hidden_state
np.save({str(out / "fresh.npy")!r}, hidden.numpy())
"""
    result = python("-c", code)
    assert result.returncode == 0, result.stderr
    import stem_jepa  # noqa: F401
    from transformers import AutoModel, AutoProcessor

    processor, model = AutoProcessor.from_pretrained(out), AutoModel.from_pretrained(out).eval()
    wave, rate = soundfile.read(stem, dtype="float32")
    with torch.no_grad():
        hidden = model(**processor(wave, sampling_rate=rate)).last_hidden_state
    np.testing.assert_array_equal(np.load(out / "fresh.npy"), hidden.numpy())


def test_rank_command_uses_the_run(run):
    out, data = run
    song = data / "test" / "song10"
    mix = out / "mix.wav"
    others = [soundfile.read(song / f"{name}.wav")[0] for name in ("soprano", "alto", "tenor")]
    soundfile.write(mix, sum(others) / 3, RATE)
    candidates = [str(song / "bass.wav"), str(data / "test" / "song11" / "bass.wav")]
    code = "import sys; from stem_jepa.cli import main; sys.exit(main())"
    result = python("-c", code, str(out), str(mix), *candidates, "--instrument", "bass")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("score") == 2


def test_config_field_error_names_the_set_flag(tmp_path):
    result = jepa("pretrain", "stem-jepa", "--preset", "base", "--output-dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "--set instrument_names=soprano,alto,tenor,bass" in result.stderr


def test_musdb_style_folder(tmp_path):
    """MUSDB names (bass, drums, other, vocals + mixture) at 44.1 kHz: the instrument names come from the files,
    a truncated stem is named in the pre-check (with on_bad_file=skip it is left out), and a quietly mastered
    test song keeps its stems in the retrieval."""
    rate, seconds = 44100, 3.0
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(0)

    def write(folder, gain=0.5, truncate=None):
        folder.mkdir(parents=True, exist_ok=True)
        stems = {
            "bass": np.sin(2 * np.pi * 55 * rng.integers(1, 3) * t),
            "drums": (np.sin(2 * np.pi * 4 * t) > 0.95) * rng.standard_normal(len(t)),
            "other": np.sin(2 * np.pi * 330 * rng.integers(1, 3) * t) * np.sin(2 * np.pi * 0.5 * t),
            "vocals": np.sin(2 * np.pi * (440 + 60 * np.sin(2 * np.pi * 3 * t)) * t),
        }
        for name, wave in stems.items():
            wave = gain * wave / np.abs(wave).max()
            soundfile.write(folder / f"{name}.wav", wave[: truncate if name == "vocals" else None], rate)
        soundfile.write(folder / "mixture.wav", sum(stems.values()) / 4 * gain, rate)

    data = tmp_path / "musdb"
    for i in range(2):
        write(data / "train" / f"artist - song {i}")
    write(data / "train" / "cut", truncate=int(1.5 * rate))
    write(data / "test" / "loud")
    write(data / "test" / "quiet", gain=0.05)  # every stem below the reference's absolute threshold of 0.1
    out = tmp_path / "run"
    common = ["--max-steps", "2", "--batch-size", "2", "--output-dir", str(out), "--threads", "1"]
    refused = jepa("pretrain", "stem-jepa", "--data", str(data), *common)
    assert refused.returncode == 2
    assert "1 of 3 input files cannot be used" in refused.stderr
    assert "cut: truncated stem(s) vocals.wav (1.50 s); the other stems last 3.00 s" in refused.stderr
    result = jepa("pretrain", "stem-jepa", "--data", str(data), "--set", "on_bad_file=skip", *common)
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["instrument_names"] == ["bass", "drums", "other", "vocals"]
    result = jepa("evaluate", str(out), "--data", str(data))
    assert result.returncode == 0, result.stderr
    metrics = json_of(result.stdout)
    assert metrics["num_candidates"] == 8 and np.isfinite(metrics["recall_auc"])  # the quiet song counts
    code = f"""
import numpy as np, stem_jepa
from stem_jepa import StemJepaModel, rank_stems

model = StemJepaModel.from_pretrained({str(out)!r})
mix = np.zeros(44100, np.float32)
try:
    rank_stems(model, mix, [mix], "bass")
except TypeError as error:
    print("refused:", error)
"""
    result = python("-c", code)
    assert "refused:" in result.stdout and "sampling_rate" in result.stdout, result.stderr
