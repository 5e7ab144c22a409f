"""Read a user's files once, up front, and report every bad one together with the policy that applies.

`read_files(paths, read, check, policy)` reads each file with the domain's reader, runs the domain's checks
(`finite`, `long_enough`, `not_silent`, `sampling_rate_is` …) and either stops with one message listing every
bad file (`policy="error"`, the default) or leaves them out with a warning (`--set on_bad_file=skip`).
"""

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BAD_FILE_POLICIES = ("error", "skip")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BadFile:
    path: str
    problem: str


class BadFilesError(ValueError):
    """Some input files cannot be used; the message lists each with its problem and the ways out."""

    def __init__(self, bad: Sequence[BadFile], total: int):
        self.bad = list(bad)
        lines = "\n".join(f"  {b.path}: {b.problem}" for b in self.bad)
        super().__init__(
            f"{len(self.bad)} of {total} input files cannot be used:\n{lines}\n"
            "Fix or remove them, or leave them out with --set on_bad_file=skip"
        )


def read_files(
    paths: Iterable[str | Path],
    read: Callable[[Path], Any],
    check: Callable[[Any], str | None] | None = None,
    policy: str = "error",
) -> list[tuple[Path, Any]]:
    """`(path, read(path))` for every usable file, in order.

    A file is bad when `read` raises (unreadable, truncated, wrong format) or `check(value)` returns a problem.
    With `policy="error"` any bad file stops the run with a `BadFilesError` naming all of them; with "skip" they
    are left out and listed in one warning. No usable file at all is always an error.
    """
    if policy not in BAD_FILE_POLICIES:
        raise ValueError(f"on_bad_file must be one of {BAD_FILE_POLICIES}, got {policy!r}")
    paths = [Path(p) for p in paths]
    good, bad = [], []
    for path in paths:
        try:
            value = read(path)
        except Exception as error:  # any reader failure is reported per file, with its reason
            bad.append(BadFile(str(path), f"unreadable ({type(error).__name__}: {error})"))
            continue
        problem = check(value) if check is not None else None
        if problem:
            bad.append(BadFile(str(path), problem))
        else:
            good.append((path, value))
    if bad and (policy == "error" or not good):
        raise BadFilesError(bad, len(paths))
    if bad:
        logger.warning("%s", str(BadFilesError(bad, len(paths))).replace("cannot be used", "are left out", 1))
    if not good:
        raise ValueError("no input file was found; point --data at a folder or file with data")
    return good


def first_problem(*problems: str | None) -> str | None:
    """The first problem found by a sequence of checks (each None when fine)."""
    return next((p for p in problems if p), None)


def finite(values: np.ndarray) -> str | None:
    bad = ~np.isfinite(np.asarray(values, dtype=np.float64))
    return f"{int(bad.sum())} NaN or infinite values" if bad.any() else None


def long_enough(length: int, minimum: int, unit: str = "samples") -> str | None:
    return f"too short: {length} {unit}, at least {minimum} needed" if length < minimum else None


def not_silent(values: np.ndarray) -> str | None:
    values = np.asarray(values)
    return "silent or constant (no signal)" if values.size and np.ptp(values) == 0 else None


def sampling_rate_is(rate: float | None, expected: float | None, what: str = "sampling rate") -> str | None:
    if rate is None or expected is None or np.isclose(rate, expected):
        return None
    return f"{what} {rate:g}, expected {expected:g}"
