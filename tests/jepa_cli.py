"""Run the `jepa` command as users do: a fresh interpreter, offline, one torch thread."""

import json
import os
import subprocess
import sys

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def python(*args: str) -> subprocess.CompletedProcess:
    """`python ARGS` in a fresh interpreter with the test environment."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=ENV, timeout=600)


def jepa(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    """`python -m jepa_core ARGS`; with `check`, a non-zero exit fails the test with the end of stderr."""
    result = python("-m", "jepa_core", *args)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def jepa_ok(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`jepa` that fails the test on a non-zero exit unless `check=False`."""
    return jepa(*args, check=check)


def last_json(text: str) -> dict:
    """The JSON object a verb printed last on stdout."""
    return json.loads(text[text.index("{") : text.rindex("}") + 1])
