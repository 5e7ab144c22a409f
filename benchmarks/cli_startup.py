"""Start-up time of the `jepa` command: `jepa --help`, `jepa list` and `jepa list ijepa`, each a fresh process.

`jepa --help` and `jepa list` read the domains' entry-point metadata and import no domain (and no torch);
`jepa list DOMAIN` imports that one domain. Prints the median of 5 runs of each and rewrites its section of
benchmarks/README.md. Run it on an idle machine: `uv run python benchmarks/cli_startup.py`.
"""

import shutil
import statistics
import subprocess
import sys
import time

from readme_section import write_section

COMMANDS = [["--help"], ["list"], ["list", "ijepa"]]
RUNS = 5


def seconds(args: list[str]) -> float:
    jepa = shutil.which("jepa") or sys.exit("the jepa command is not on PATH; run through `uv run`")
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([jepa, *args], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    import_torch = ["python", "-c", "import torch"]
    started = time.perf_counter()
    subprocess.run([sys.executable, *import_torch[1:]], check=True)
    torch_seconds = time.perf_counter() - started
    rows = [(" ".join(["jepa", *args]), seconds(args)) for args in COMMANDS]
    lines = ["| command | seconds (median of 5) |", "|---|---|"]
    lines += [f"| `{name}` | {value:.2f} |" for name, value in rows]
    text = (
        "## `jepa` start-up (`benchmarks/cli_startup.py`)\n\n"
        "Fresh process each run, from the console script. `jepa --help` and `jepa list` import no domain and no "
        "torch (entry-point metadata only); `jepa list ijepa` imports one domain. For scale, `python -c 'import "
        f"torch'` took {torch_seconds:.2f} s in the same run. Command: `uv run python benchmarks/cli_startup.py`.\n\n"
        + "\n".join(lines)
    )
    print(text)
    write_section("cli_startup", text)


if __name__ == "__main__":
    main()
