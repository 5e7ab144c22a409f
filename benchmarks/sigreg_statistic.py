"""SIGReg's own cost: forward + backward of `jepa_core.sigreg.sigreg` against the direct formula, in the same run.

The direct formula takes the cosine and sine of every angle t_k·x (N × M × K of them) and lets autograd keep what
the backward pass needs; the core computes every knot from one cosine and one sine by the Chebyshev recurrence, in
cache-sized row chunks, recomputed in the backward pass. Embeddings (N, 64), 256 directions, 17 knots, the best of
`--repeats` rounds, alternating the two. Prints the figures and rewrites its section of benchmarks/README.md. Run on
an idle machine: `uv run python benchmarks/sigreg_statistic.py`.
"""

import argparse
import time

import torch
from jepa_core.sigreg import random_directions, sigreg
from readme_section import write_section

SIZES = (1000, 4000, 12000)


def direct(embeddings: torch.Tensor, step: int, num_directions: int = 256, num_knots: int = 17) -> torch.Tensor:
    """The Epps–Pulley statistic averaged over directions, written as its definition."""
    x = embeddings @ random_directions(embeddings.shape[-1], num_directions, step)
    t = torch.linspace(0.0, 3.0, num_knots)
    gaussian = torch.exp(-0.5 * t**2)
    weights = torch.full_like(t, 3.0 / (num_knots - 1))
    weights[[0, -1]] /= 2
    angles = x[:, :, None] * t
    error = (angles.cos().mean(0) - gaussian) ** 2 + angles.sin().mean(0) ** 2
    return (x.shape[0] * (error * weights * gaussian).sum(-1)).mean()


def seconds(function, embeddings: torch.Tensor) -> float:
    z = embeddings.clone().requires_grad_(True)
    start = time.perf_counter()
    function(z, 3).backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    lines = ["| N | direct formula (ms) | core (ms) | speed-up | same value |", "|---|---|---|---|---|"]
    for size in SIZES:
        embeddings = torch.randn(size, 64, generator=torch.Generator().manual_seed(size))
        rounds = [(seconds(direct, embeddings), seconds(sigreg, embeddings)) for _ in range(args.repeats)]
        plain, core = (min(column) for column in zip(*rounds, strict=True))
        same = torch.allclose(direct(embeddings, 3), sigreg(embeddings, 3), rtol=1e-4)
        lines.append(f"| {size} | {1e3 * plain:.1f} | {1e3 * core:.1f} | {plain / core:.1f}× | {same} |")
        print(lines[-1], flush=True)
    text = (
        "## SIGReg statistic (`benchmarks/sigreg_statistic.py`)\n\n"
        f"Forward + backward of SIGReg on (N, 64) embeddings, 256 directions, 17 knots, {torch.get_num_threads()} "
        f"threads, best of {args.repeats} alternating rounds: the direct formula (cosine and sine of every angle, "
        "autograd) against the core's Chebyshev recurrence in cache-sized chunks. Command: "
        "`uv run python benchmarks/sigreg_statistic.py`.\n\n" + "\n".join(lines)
    )
    print(text)
    write_section("sigreg_statistic", text)


if __name__ == "__main__":
    main()
