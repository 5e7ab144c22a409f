"""Two CPU processes through `accelerate launch` (gloo), as a user scales out: the run saves one folder, both
processes end with the same weights (EMA target included; the trainer checks it), and a run resumed from a
checkpoint written mid-way ends bit-identical to the uninterrupted two-process run."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "accelerate" / "cpu_2proc.yaml"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TRANSFORMERS_VERBOSITY": "error"}

pytestmark = pytest.mark.slow


def launch(*args: str, port: int) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG),
               "--main_process_port", str(port), "-m", "jepa_core", *args]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.mark.parametrize(
    ("domain", "extra", "port"),
    [("ijepa", ["--batch-size", "8"], 29531), ("sar-jepa", ["--batch-size", "8"], 29533)],
    ids=["ijepa-ema-target", "sar-jepa-fixed-target"],
)
def test_two_processes_save_once_and_resume_exactly(tmp_path, domain, extra, port):
    full = tmp_path / "full"
    common = ["pretrain", domain, "--preset", "tiny", "--max-steps", "4", "--save-every", "2", *extra]
    launch(*common, "--output-dir", str(full), port=port)
    metrics = json.loads((full / "metrics.json").read_text())
    assert metrics["train"]["processes"] == 2 and metrics["train"]["steps"] == 4
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "pretraining"):
        assert (full / name).exists(), name

    resumed = tmp_path / "resumed"  # as if killed right after the step-2 checkpoint
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copytree(full / "checkpoints" / "step_00000002", resumed / "checkpoints" / "step_00000002")
    (resumed / "checkpoints" / "latest").write_text("step_00000002")
    launch(*common, "--output-dir", str(resumed), "--resume", port=port + 1)
    expected = load_file(str(full / "pretraining" / "model.safetensors"))
    actual = load_file(str(resumed / "pretraining" / "model.safetensors"))
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    history = [json.loads((f / "metrics.json").read_text())["history"] for f in (full, resumed)]
    assert [row["loss"] for row in history[0]] == [row["loss"] for row in history[1]]
