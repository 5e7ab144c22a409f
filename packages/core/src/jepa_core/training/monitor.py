"""Collapse monitor: RankMe of recent target embeddings."""

import logging

import torch

from ..evaluation import rankme

logger = logging.getLogger(__name__)


class CollapseMonitor:
    """Keeps the last `window` pooled target embeddings; `measure()` returns their RankMe (centred) and warns
    on a drop.

    A warning fires when RankMe falls below `warn_fraction` of the best value seen so far.
    """

    def __init__(self, window: int = 512, warn_fraction: float = 0.5):
        self.window, self.warn_fraction = window, warn_fraction
        self.buffer: list[torch.Tensor] = []
        self.best = 0.0

    def add(self, embeddings: torch.Tensor) -> None:
        """Kept where they are (no host synchronisation per step); moved to the CPU when measured or saved."""
        self.buffer.append(embeddings.detach().float())
        while sum(len(b) for b in self.buffer) - len(self.buffer[0]) >= self.window:
            self.buffer.pop(0)

    def measure(self, step: int) -> float | None:
        if not self.buffer or sum(len(b) for b in self.buffer) < 2:
            return None
        value = rankme(torch.cat([b.cpu() for b in self.buffer])[-self.window :], center=True)
        if value < self.warn_fraction * self.best:
            logger.warning(
                "step %d: RankMe of the target embeddings fell to %.2f (best %.2f): the representation may be "
                "collapsing; check the learning rate, EMA momentum and masking",
                step,
                value,
                self.best,
            )
        self.best = max(self.best, value)
        return value

    def state_dict(self) -> dict:
        return {"best": self.best, "sizes": [len(b) for b in self.buffer]}

    def buffer_tensor(self) -> torch.Tensor | None:
        return torch.cat([b.cpu() for b in self.buffer]) if self.buffer else None

    def load_state_dict(self, state: dict, buffer: torch.Tensor | None = None) -> None:
        """Restore the best value and, when given, the buffered embeddings (so RankMe after a resume is exact)."""
        self.best = state["best"]
        self.buffer = list(buffer.split(state["sizes"])) if buffer is not None and state.get("sizes") else []
