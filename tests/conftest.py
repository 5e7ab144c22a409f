"""Shared test set-up: offline Hugging Face, quiet caches, a fresh Accelerate state per test."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("MPLCONFIGDIR", "/tmp/jepa-tests-mpl")
os.environ.setdefault("NUMBA_CACHE_DIR", "/tmp/jepa-tests-numba")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))  # the shared `jepa_cli` helpers


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Accelerate keeps process-wide singletons; reset them so every test starts clean."""
    yield
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


@pytest.fixture(autouse=True)
def deterministic_torch():
    torch.manual_seed(0)
    yield
