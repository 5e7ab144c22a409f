"""Long recordings give many samples: strided windows for evaluation, random crops for pretraining (as the
papers do), without truncating anything silently."""

import math

import torch
from torch.utils.data import Dataset


def window_starts(length: int, window: int, stride: int | None = None) -> list[int]:
    """Starts of windows of `window` steps every `stride` (default: `window`) over `length` steps; the last
    window is aligned to the end so that no step is left out. A recording shorter than one window has none."""
    if window < 1 or (stride is not None and stride < 1):
        raise ValueError(f"window and stride must be at least 1, got {window} and {stride}")
    if length < window:
        return []
    stride = stride or window
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def random_start(length: int, window: int) -> int:
    """A uniform random crop start from torch's global RNG (seeded per sample by the trainer)."""
    if length < window:
        raise ValueError(f"a recording of {length} steps is shorter than the window of {window}")
    return int(torch.randint(0, length - window + 1, ()).item())


class Windows(Dataset):
    """Samples cut from recordings along their last axis.

    `crop(recording_index, start)` returns one sample for the window starting at `start`. With `random_crops`
    (pretraining), each recording of length L gives ceil(L / window) samples per epoch, each a random crop; else
    (evaluation, embedding) every strided window is a sample. A recording shorter than one window gives none (the
    pre-check in `jepa_core.data_checks` reports it). `recording_of[i]` names the recording of sample i, so that
    window embeddings can be averaged per recording.
    """

    def __init__(self, lengths: list[int], window: int, crop, stride: int | None = None, random_crops: bool = False):
        self.lengths, self.window, self.crop, self.random_crops = list(lengths), window, crop, random_crops
        if random_crops:
            usable = [(r, n) for r, n in enumerate(self.lengths) if n >= window]
            self.items = [(r, None) for r, n in usable for _ in range(math.ceil(n / window))]
        else:
            self.items = [(r, s) for r, n in enumerate(self.lengths) for s in window_starts(n, window, stride)]
        if not self.items:
            raise ValueError(f"no recording is at least one window ({window} steps) long")

    @property
    def recording_of(self) -> list[int]:
        return [r for r, _ in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        recording, start = self.items[index]
        if start is None:
            start = random_start(self.lengths[recording], self.window)
        return self.crop(recording, start)
