"""`jepa pretrain --compile` in a fresh interpreter: torch.compile'd trunks train as the eager ones do, save plain
state-dict keys (no `_orig_mod.`), resume, and the run records its time to first step."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from jepa_core.cli import main
from jepa_core.domain import register_domain
from jepa_core.training import latest_checkpoint
from safetensors.torch import load_file
from toy_domain import ToyConfig, ToyForPreTraining, ToyModel, toy_domain

TOY_CLI = (
    "import sys; sys.path.insert(0, {here!r}); from toy_domain import toy_domain; "
    "from jepa_core.domain import register_domain; register_domain(toy_domain()); "
    "from jepa_core.cli import main; sys.exit(main(sys.argv[1:]))"
)


def toy_jepa(*args: str, cache: Path) -> None:
    """`jepa ARGS` with the toy domain, in a fresh interpreter with its own inductor cache."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TORCHINDUCTOR_CACHE_DIR": str(cache)}
    code = TOY_CLI.format(here=str(Path(__file__).parent))
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_compiled_run_keeps_plain_keys_matches_eager_and_resumes(tmp_path):
    common = ["pretrain", "toy", "--batch-size", "8", "--save-every", "2", "--threads", "1"]
    compiled, cache = tmp_path / "compiled", tmp_path / "inductor"
    started = time.perf_counter()
    toy_jepa(*common, "--output-dir", str(compiled), "--max-steps", "2", "--compile", cache=cache)
    seconds = time.perf_counter() - started
    first_step = json.loads((compiled / "metrics.json").read_text())["train"]["time_to_first_step_s"]
    assert 0 < first_step < seconds  # from that process's start, compilation included
    toy_jepa(*common, "--output-dir", str(compiled), "--max-steps", "4", "--compile", "--resume", cache=cache)
    assert any(cache.rglob("*.py")), "inductor compiled nothing"
    register_domain(toy_domain())
    eager = tmp_path / "eager"  # the same two processes' worth of steps, eagerly, in this process
    assert main([*common, "--output-dir", str(eager), "--max-steps", "2"]) == 0
    assert main([*common, "--output-dir", str(eager), "--max-steps", "4", "--resume"]) == 0

    config = ToyConfig.from_preset("tiny")
    encoder_keys, model_keys = set(ToyModel(config).state_dict()), set(ToyForPreTraining(config).state_dict())
    assert set(load_file(compiled / "model.safetensors")) == encoder_keys
    assert set(load_file(compiled / "pretraining" / "model.safetensors")) == model_keys
    assert set(load_file(latest_checkpoint(compiled / "checkpoints") / "model.safetensors")) == model_keys

    def history(run: Path) -> list[dict]:
        return json.loads((run / "metrics.json").read_text())["history"]

    assert [row["step"] for row in history(compiled)] == [1, 2, 3, 4]  # steps 3 and 4 from the resumed process
    losses = [[row["loss"] for row in history(run)] for run in (compiled, eager)]
    assert torch.allclose(torch.tensor(losses[0]), torch.tensor(losses[1]), rtol=1e-4), losses
    assert json.loads((compiled / "training_args.json").read_text())["compile"] is True
