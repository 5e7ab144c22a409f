"""Loss, learning-rate and RankMe curves of a run as one PNG."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_history(history: list[dict], path: str | Path) -> None:
    curves = [("loss", "loss"), ("lr", "learning rate"), ("rankme", "RankMe (target embeddings)")]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    parts = sorted({k for row in history for k in row if k.startswith("loss_")})  # terms of a composite loss
    for axis, (key, title) in zip(axes, curves, strict=True):
        for name in [key, *parts] if key == "loss" else [key]:
            points = [(row["step"], row[name]) for row in history if row.get(name) is not None]
            if points:
                axis.plot(*zip(*points, strict=True), marker="." if len(points) < 30 else None, label=name)
        if key == "loss" and parts:
            axis.legend()
        axis.set_title(title)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
