"""Stem-JEPA's views, drawn on the data side: which stem is the target, and which other stems make the context mix.

As the reference (`src/data/mix.py`): the target is one random non-silent stem (max |x| above
`silence_threshold`); the context is the sum of a random subset of the other non-silent stems, whose size is
uniform in 1..#others (`context_mode="uniform"`), all of them (`"max"`) or exactly one (`"one"`). There is no
patch masking: both views cover the whole patch grid.
"""

import torch
from jepa_core.masks import MaskCollator

from .configuration_stem_jepa import StemJepaConfig
from .processor_stem_jepa import StemJepaProcessor


class StemViewCollator(MaskCollator):
    """Samples `{"stems": (S, L), "instruments": (S,)}` → batches with `context_values`, `target_values` (log-mel)
    and `instrument` (B,). Songs with different stem counts are padded with silent stems of class −1."""

    def __init__(self, config: StemJepaConfig, seed: int = 0):
        super().__init__(seed)
        self.config = config
        self.processor = StemJepaProcessor.from_config(config)

    def collate_samples(self, samples: list[dict]) -> dict:
        if not samples:
            raise ValueError("cannot collate an empty list of samples")
        lengths = {s["stems"].shape[-1] for s in samples}
        if len(lengths) != 1:
            raise ValueError(f"samples have different lengths {sorted(lengths)}; cut them into equal chunks first")
        width = max(s["stems"].shape[0] for s in samples)
        stems = torch.zeros(len(samples), width, lengths.pop())
        instruments = torch.full((len(samples), width), -1, dtype=torch.long)
        for row, sample in enumerate(samples):
            count = sample["stems"].shape[0]
            stems[row, :count] = torch.as_tensor(sample["stems"], dtype=torch.float32)
            instruments[row, :count] = torch.as_tensor(sample["instruments"], dtype=torch.long)
        active = self.config.active_stems(stems.abs().amax(dim=-1)) & (instruments >= 0)
        return {"stems": stems, "instruments": instruments, "active": active}

    def choose_views(self, instruments: torch.Tensor, active: torch.Tensor) -> tuple[int, list[int]]:
        """(target stem, context stems) of one sample; silent stems are used only when too few are active."""
        present = (instruments >= 0).nonzero().squeeze(1).tolist()
        if len(present) < 2:
            raise ValueError("a sample has fewer than 2 stems: Stem-JEPA needs a target stem and a context mix")
        pool = [i for i in present if active[i]] or present
        target = pool[int(torch.randint(len(pool), (1,), generator=self.generator))]
        others = [i for i in present if i != target and active[i]] or [i for i in present if i != target]
        order = torch.randperm(len(others), generator=self.generator).tolist()
        mode = self.config.context_mode
        size = {"max": len(others), "one": 1}.get(mode)
        if size is None:
            size = int(torch.randint(1, len(others) + 1, (1,), generator=self.generator))
        return target, sorted(others[i] for i in order[:size])

    def sample_masks(self, batch: dict) -> dict:
        stems, instruments = batch["stems"], batch["instruments"]
        context, target, classes = [], [], []
        for row in range(stems.shape[0]):
            chosen, mix = self.choose_views(instruments[row], batch["active"][row])
            target.append(stems[row, chosen])
            context.append(stems[row, mix].sum(dim=0))
            classes.append(int(instruments[row, chosen]))
        return {
            "context_values": self.processor.spectrogram(torch.stack(context)),
            "target_values": self.processor.spectrogram(torch.stack(target)),
            "instrument": torch.tensor(classes, dtype=torch.long),
        }
