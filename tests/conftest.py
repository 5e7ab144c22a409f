"""Shared test set-up: offline Hugging Face, quiet caches, a fresh Accelerate state per test, and the cores shared
between pytest-xdist workers (two workers each spinning two OpenMP threads on two cores ran a test 11× slower)."""

import os

WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
THREADS = max(1, (os.cpu_count() or 1) // WORKERS)
if WORKERS > 1:
    os.environ["OMP_NUM_THREADS"] = str(THREADS)  # also for the CLI subprocesses the tests start

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
if WORKERS > 1:
    torch.set_num_threads(THREADS)


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
