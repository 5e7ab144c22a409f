"""TS-JEPA views, drawn on the data side: the current window is the context, the next K_p windows are the targets.

Per sample one anchor step k is drawn uniformly from the steps that leave a full window before it and K_p steps
after it. Indices are time steps of the sample's series (B, C, T):
- `context_indices` (B, W): k−W+1 … k, the window the device encodes;
- `target_indices` (B, K_p, W): the same window shifted by 1 … K_p steps, the future windows the EMA encoder sees;
- `command_indices` (B, K_p): k … k+K_p−1, the commands applied between the windows, which condition the predictor.
"""

import torch
from jepa_core.masks import MaskCollator

from .configuration_tsjepa import TimeSeriesJepaConfig


class FutureWindowCollator(MaskCollator):
    """Stacks trajectories and draws (context window, future windows, commands) index sets with its own generator."""

    def __init__(self, window_size: int, prediction_horizon: int, seed: int = 0):
        super().__init__(seed)
        if window_size < 1 or prediction_horizon < 1:
            raise ValueError(f"window_size ({window_size}) and prediction_horizon ({prediction_horizon}) must be >= 1")
        self.window_size, self.prediction_horizon = window_size, prediction_horizon

    @classmethod
    def from_config(cls, config: TimeSeriesJepaConfig, seed: int = 0) -> "FutureWindowCollator":
        return cls(config.window_size, config.prediction_horizon, seed)

    def sample_masks(self, batch: dict) -> dict:
        batch_size, _, length = batch["series"].shape
        if length < self.window_size + self.prediction_horizon:
            raise ValueError(
                f"series of {length} steps are too short for a window of {self.window_size} plus "
                f"{self.prediction_horizon} predicted steps"
            )
        anchors = torch.randint(
            self.window_size - 1, length - self.prediction_horizon, (batch_size, 1), generator=self.generator
        )
        context = anchors - self.window_size + 1 + torch.arange(self.window_size)
        shifts = torch.arange(1, self.prediction_horizon + 1)[None, :, None]
        return {
            "context_indices": context,
            "target_indices": context[:, None, :] + shifts,
            "command_indices": anchors + torch.arange(self.prediction_horizon),
        }
