"""Every random draw of a run comes from state that resume restores.

Data side: each sample's draws (crops, windows, augmentations) come from a generator seeded by (seed, epoch,
index), so they do not depend on how far the loader has read ahead, on worker processes or on when a run was
resumed. Model side (dropout, drop-path): the global RNG of each process is saved in every checkpoint.
"""

import itertools
import random

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, Sampler, get_worker_info


def sample_seed(seed: int, epoch: int, index: int) -> int:
    return (seed * 1_000_003 + epoch) * 1_000_000_007 + index & 0x7FFF_FFFF_FFFF


class EpochSampler(Sampler[tuple[int, int]]):
    """A fresh permutation per epoch from (seed, epoch), as `(epoch, index)` keys for `SeededSamples`."""

    def __init__(self, length: int, seed: int):
        self.length, self.seed, self.epoch = length, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter((self.epoch, i) for i in torch.randperm(self.length, generator=generator).tolist())

    def __len__(self) -> int:
        return self.length


class _ForkedRng:
    """torch's (CPU), numpy's and Python's global RNGs seeded for a block and restored afterwards. Only the CPU
    generator: `torch.manual_seed` also queues a lazy CUDA seeding, with a formatted stack trace, when CUDA is not
    initialised — up to ~1 ms per sample on a CPU machine, depending on the stack's depth."""

    def __init__(self, seed: int):
        self.seed = seed

    def __enter__(self):
        self.states = (torch.get_rng_state(), np.random.get_state(), random.getstate())
        torch.default_generator.manual_seed(self.seed)
        np.random.seed(self.seed % 2**32)
        random.seed(self.seed)

    def __exit__(self, *exc):
        torch.set_rng_state(self.states[0])
        np.random.set_state(self.states[1])
        random.setstate(self.states[2])


class SeededStream(IterableDataset):
    """A stream's samples, each read with the global RNGs seeded by (seed, epoch, process, loader worker,
    position), so a re-read of an epoch draws exactly the same crops and augmentations."""

    def __init__(self, stream, seed: int, rank: int = 0):
        self.stream, self.seed, self.rank, self.epoch = stream, seed, rank, 0

    def __iter__(self):
        worker = get_worker_info()
        stream_seed = sample_seed(self.seed, self.epoch, 1000 * self.rank + (worker.id if worker else 0))
        iterator = iter(self.stream)
        for position in itertools.count():
            with _ForkedRng(sample_seed(stream_seed, 0, position)):
                try:
                    sample = next(iterator)
                except StopIteration:
                    return
            yield sample


class SeededSamples(Dataset):
    """`dataset[index]` with torch's, numpy's and Python's global RNGs seeded by (seed, epoch, index) for the
    call and restored afterwards."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        with _ForkedRng(sample_seed(self.seed, epoch, index)):
            return self.dataset[index]


def rng_state() -> torch.Tensor:
    """This process's torch CPU RNG state (the CUDA one too on a GPU), as one uint8 tensor."""
    states = [torch.get_rng_state()]
    if torch.cuda.is_available():
        states.append(torch.cuda.get_rng_state())
    return torch.cat(states)


def set_rng_state(state: torch.Tensor) -> None:
    cpu_size = torch.get_rng_state().numel()
    torch.set_rng_state(state[:cpu_size])
    if torch.cuda.is_available():
        if state.numel() == cpu_size:
            raise ValueError("the checkpoint has no CUDA RNG state (it was written on a CPU); resume it on a CPU")
        torch.cuda.set_rng_state(state[cpu_size:])
