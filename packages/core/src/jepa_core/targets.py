"""Target providers: what the predictor must predict, computed without gradient.

`EmaTarget` runs an EMA copy of the online encoder on the full input; `FixedTransformTarget` applies a
fixed function (e.g. SAR gradient features). Both return the targets gathered at `target_indices`.
"""

import copy
from collections.abc import Callable

import torch
from torch import nn

from .masks import apply_masks


def last_hidden_state(output) -> torch.Tensor:
    """Token states from a transformers ModelOutput or a plain tensor."""
    return output.last_hidden_state if hasattr(output, "last_hidden_state") else output


class EmaTarget(nn.Module):
    """Holds `encoder`, an EMA copy of `online` that never receives gradients.

    `forward(target_inputs, target_indices)` returns (tokens at the indices, the full token states without
    prefix tokens). The online module is referenced, not registered, so it is saved once.
    """

    def __init__(self, online: nn.Module, num_prefix_tokens: int = 0):
        super().__init__()
        self.encoder = copy.deepcopy(online).requires_grad_(False)
        self._online = [online]
        self.num_prefix_tokens = num_prefix_tokens

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self._online[0], self.encoder)]

    def sync(self) -> None:
        """Copy the online weights into the target (at initialisation)."""
        self.encoder.load_state_dict(self._online[0].state_dict())

    @torch.no_grad()
    def forward(self, target_inputs: dict, target_indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = last_hidden_state(self.encoder(**target_inputs))[:, self.num_prefix_tokens :]
        return apply_masks(hidden, target_indices), hidden


class FixedTransformTarget(nn.Module):
    """Targets from a fixed function `transform(**target_inputs) -> (B, N, D)`; no EMA pairs."""

    def __init__(self, transform: Callable[..., torch.Tensor]):
        super().__init__()
        self.transform = transform

    def momentum_pairs(self) -> list:
        return []

    @torch.no_grad()
    def forward(self, target_inputs: dict, target_indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.transform(**target_inputs)
        return apply_masks(hidden, target_indices), hidden


class OnlineTarget(nn.Module):
    """Targets from the online encoder itself on the full input: LeJEPA's recipe, no EMA teacher.

    With `stop_gradient` the gathered targets are detached (a BYOL-style asymmetric variant) while the full token
    states keep their gradient, so SIGReg on them still shapes the encoder; without it (LeJEPA's default) gradients
    flow through both views. `with_grad=False` runs the pass without autograd (nothing takes gradients through it:
    stop-gradient and SIGReg on the context view). The encoder is referenced, not registered; `encoder` names it, as
    `EmaTarget.encoder`.
    """

    def __init__(
        self, online: nn.Module, num_prefix_tokens: int = 0, stop_gradient: bool = False, with_grad: bool = True
    ):
        super().__init__()
        self._online = [online]
        self.num_prefix_tokens, self.stop_gradient, self.with_grad = num_prefix_tokens, stop_gradient, with_grad

    @property
    def encoder(self) -> nn.Module:
        return self._online[0]

    def momentum_pairs(self) -> list:
        return []

    def encode(self, *args, **kwargs) -> torch.Tensor:
        """The online encoder's last hidden state, with autograd only where `with_grad`."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.with_grad):
            return last_hidden_state(self._online[0](*args, **kwargs))

    def forward(self, target_inputs: dict, target_indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encode(**target_inputs)[:, self.num_prefix_tokens :]
        return apply_masks(hidden.detach() if self.stop_gradient else hidden, target_indices), hidden
