"""Batches for the training loop from a map-style data set or a stream, with a position that resume restores.

The position is (epoch, micro-batches read in that epoch). Map-style data sets are read through the trainer's
seeded sampler and Accelerate's sharded loader. Streams (a `datasets.IterableDataset`, e.g. `load_dataset(...,
streaming=True)` or `Dataset.to_iterable_dataset(num_shards=…)`, or any torch `IterableDataset`) need no length:
their shards are split across processes (`split_dataset_by_node`) and loader workers, a seeded shuffle buffer
mixes them (`shuffle_buffer`), and an epoch ends when the stream does. Resume re-reads the epoch to the saved
position, so a stream resumes bit-identically (its order is a pure function of the seed and the epoch).
"""

import itertools

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from .reproducibility import EpochSampler, SeededSamples, SeededStream


def is_stream(dataset) -> bool:
    return isinstance(dataset, IterableDataset)


class Feeder:
    """`epoch_batches(epoch, skip)` → micro-batches of one epoch, the first `skip` left out."""

    def __init__(self, accelerator, dataset: Dataset, collate, per_device_batch: int, args):
        self.accelerator, self.stream = accelerator, is_stream(dataset)
        generator = torch.Generator().manual_seed(args.seed)  # loader iterators never draw from the global RNG
        pin = accelerator.device.type == "cuda"  # page-locked batches: the copies to the GPU overlap the step
        if self.stream:
            self.source = _distributed_stream(dataset, accelerator, args)
            self.samples = SeededStream(self.source, args.seed, accelerator.process_index)
            self.loader = DataLoader(self.samples, batch_size=per_device_batch, collate_fn=collate,
                                     num_workers=args.num_workers, drop_last=True, generator=generator,
                                     pin_memory=pin)  # fmt: skip
        else:
            loader = DataLoader(SeededSamples(dataset, args.seed), batch_size=per_device_batch,
                                sampler=EpochSampler(len(dataset), args.seed), collate_fn=collate,
                                num_workers=args.num_workers, drop_last=True, generator=generator,
                                pin_memory=pin)  # fmt: skip
            self.loader = accelerator.prepare(loader)

    def epoch_batches(self, epoch: int, skip: int):
        if self.stream:
            if hasattr(self.source, "set_epoch"):
                self.source.set_epoch(epoch)
            self.samples.epoch = epoch
            return itertools.islice(iter(self.loader), skip, None)
        self.loader.set_epoch(epoch)
        return self.accelerator.skip_first_batches(self.loader, skip) if skip else self.loader


def _distributed_stream(dataset, accelerator, args):
    """Each process reads its own shards; a seeded buffer shuffles `datasets` streams."""
    if hasattr(dataset, "n_shards"):  # a datasets.IterableDataset
        from datasets.distributed import split_dataset_by_node

        if accelerator.num_processes > 1:
            dataset = split_dataset_by_node(dataset, accelerator.process_index, accelerator.num_processes)
        if args.shuffle_buffer > 0:
            # one shard feeds the buffer at a time: with several, `datasets` reads shards in threads, whose map
            # functions (crops, windows) would draw from the global RNG while `SeededStream` seeds another sample
            dataset = dataset.shuffle(seed=args.seed, buffer_size=args.shuffle_buffer, max_buffer_input_shards=1)
    elif accelerator.num_processes > 1:
        raise ValueError(
            "a plain torch IterableDataset cannot be split across processes here; give a datasets.IterableDataset "
            "(e.g. Dataset.to_iterable_dataset(num_shards=…) or load_dataset(..., streaming=True))"
        )
    return dataset
