"""SAR-JEPA's local masking (LoMaR-style): a few square windows of patches, most of each window masked.

Per batch, `num_windows` window tops and lefts are drawn by two independent random permutations of the
valid offsets (so tops are distinct among windows, and so are lefts; the positions are shared by the batch).
Per sample and window, `int(window_size² · window_mask_ratio)` of the window's tokens are masked at random
(39 of 49 for the paper); the encoder sees every window token, masked ones replaced by a mask token.
"""

import torch
from jepa_core.masks import MaskCollator, batch_size_of

from .configuration_sar_jepa import SarJepaConfig


class SarJepaMaskCollator(MaskCollator):
    """Adds to the batch, all sorted row-major indices into the `grid_size`² patch grid:

    - `window_indices` (B, W, w²): the tokens of each window;
    - `context_indices` (B, W, w² − M): the visible tokens of each window;
    - `target_indices` (B, W, M): the masked tokens of each window (the ones the loss is computed on).
    """

    def __init__(self, config: SarJepaConfig, seed: int = 0):
        super().__init__(seed)
        self.grid_size, self.window_size = config.grid_size, config.window_size
        self.num_windows, self.num_masked = config.num_windows, config.num_masked_per_window

    def window_positions(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(tops, lefts) of the windows in patch units, each (W,)."""
        span = self.grid_size - self.window_size + 1
        tops = torch.randperm(span, generator=self.generator)[: self.num_windows]
        lefts = torch.randperm(span, generator=self.generator)[: self.num_windows]
        return tops, lefts

    def sample_masks(self, batch: dict) -> dict:
        batch_size = batch_size_of(batch)
        tops, lefts = self.window_positions()
        inside = torch.arange(self.window_size)
        offsets = (inside[:, None] * self.grid_size + inside[None, :]).flatten()
        windows = (tops * self.grid_size + lefts)[:, None] + offsets  # (W, w²), ascending
        windows = windows.expand(batch_size, -1, -1).contiguous()
        noise = torch.rand(windows.shape, generator=self.generator)
        order = noise.argsort(dim=-1)
        masked = order[..., : self.num_masked].sort(dim=-1).values
        visible = order[..., self.num_masked :].sort(dim=-1).values
        return {
            "window_indices": windows,
            "context_indices": windows.gather(-1, visible),
            "target_indices": windows.gather(-1, masked),
        }
