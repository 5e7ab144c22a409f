"""Two CPU processes through `accelerate launch` (gloo), as a user scales out: the run saves one folder, both
processes end with the same weights (EMA target included; the trainer checks it), and a run resumed from a
checkpoint written mid-way ends bit-identical to the uninterrupted two-process run. With `--fsdp` (FSDP2) the
weights, EMA target and optimizer state are sharded, and the run matches the data-parallel one."""

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


def resume_from_step_2(full: Path, resumed: Path) -> None:
    """A run folder as if killed right after the step-2 checkpoint."""
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copytree(full / "checkpoints" / "step_00000002", resumed / "checkpoints" / "step_00000002")
    (resumed / "checkpoints" / "latest").write_text("step_00000002")


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "pretraining" / "model.safetensors"))


def losses(run: Path) -> list[float]:
    return [row["loss"] for row in json.loads((run / "metrics.json").read_text())["history"]]


@pytest.mark.parametrize(
    ("domain", "extra", "port"),
    [
        ("ijepa", ["--batch-size", "8", "--set", "objective=ema"], 29531),
        ("sar-jepa", ["--batch-size", "8"], 29533),
        ("ijepa", ["--batch-size", "8"], 29541),
    ],
    ids=["ijepa-ema-target", "sar-jepa-fixed-target", "ijepa-sigreg"],
)
def test_two_processes_save_once_and_resume_exactly(tmp_path, domain, extra, port):
    full = tmp_path / "full"
    common = ["pretrain", domain, "--preset", "tiny", "--max-steps", "4", "--save-every", "2", *extra]
    launch(*common, "--output-dir", str(full), port=port)
    metrics = json.loads((full / "metrics.json").read_text())
    assert metrics["train"]["processes"] == 2 and metrics["train"]["steps"] == 4
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "pretraining"):
        assert (full / name).exists(), name

    resumed = tmp_path / "resumed"
    resume_from_step_2(full, resumed)
    launch(*common, "--output-dir", str(resumed), "--resume", port=port + 1)
    expected, actual = final_weights(full), final_weights(resumed)
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    assert losses(full) == losses(resumed)
    if "objective=ema" in extra:
        check_fsdp_matches(full, tmp_path, common, port + 2)


def check_fsdp_matches(data_parallel: Path, tmp_path: Path, common: list[str], port: int) -> None:
    """The same run with --fsdp: really sharded checkpoints, an ordinary exported folder, the data-parallel
    run's weights (up to the order of the reductions) and a bit-identical resume."""
    import torch.distributed.checkpoint as dcp
    from transformers import AutoModel

    sharded = tmp_path / "fsdp"
    launch(*common, "--fsdp", "--output-dir", str(sharded), port=port)
    metadata = dcp.FileSystemReader(str(sharded / "checkpoints" / "step_00000004" / "sharded_state")).read_metadata()
    entries = metadata.state_dict_metadata
    for key in ("model.context_encoder.encoder.blocks.0.mlp.fc1.weight",
                "model.target.encoder.encoder.blocks.0.mlp.fc1.weight",
                "optimizer.state.context_encoder.encoder.blocks.0.mlp.fc1.weight.exp_avg"):  # fmt: skip
        chunks = entries[key].chunks
        rows = entries[key].size[0]
        assert [(c.offsets[0], c.sizes[0]) for c in chunks] == [(0, rows // 2), (rows // 2, rows // 2)], key

    expected, actual = final_weights(data_parallel), final_weights(sharded)
    assert expected.keys() == actual.keys()
    assert all(torch.allclose(expected[k], actual[k], atol=1e-6) for k in expected)
    assert losses(sharded) == pytest.approx(losses(data_parallel), rel=1e-5)
    import ijepa  # noqa: F401  (registers the model type)

    encoder = AutoModel.from_pretrained(sharded)  # the export is an ordinary folder
    reference = load_file(str(data_parallel / "model.safetensors"))
    assert encoder.config.model_type == "jepa_ijepa"
    for name, tensor in encoder.state_dict().items():
        assert torch.allclose(tensor, reference[name], atol=1e-6), name

    resumed = tmp_path / "fsdp-resumed"
    resume_from_step_2(sharded, resumed)
    launch(*common, "--fsdp", "--output-dir", str(resumed), "--resume", port=port + 1)
    expected, actual = final_weights(sharded), final_weights(resumed)
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    assert losses(sharded) == losses(resumed)
