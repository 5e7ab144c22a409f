"""Per-step losses kept on the device and read back every few steps, so the training step never waits for the
host (`loss.item()`, `isfinite`) on a GPU; one all-reduce across processes per read-back."""

import torch


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class StepLog:
    """Accumulates each optimizer step's loss (and its named parts) over micro-batches; `flush()` turns the
    pending steps into history rows with plain floats (the mean over processes) and stops on a non-finite loss."""

    def __init__(self, accelerator):
        self.accelerator = accelerator
        self.pending: list[tuple[dict, torch.Tensor]] = []
        self.names: list[str] = []
        self._sum, self._micro = None, 0

    def add_micro_batch(self, loss: torch.Tensor, parts: dict[str, torch.Tensor] | None) -> None:
        parts = parts if parts and len(parts) > 1 else {}  # a single part is the loss itself
        self.names = sorted(parts)
        values = torch.stack([loss.detach().float(), *(parts[n].detach().float() for n in self.names)])
        self._sum = values if self._sum is None else self._sum + values
        self._micro += 1

    def end_step(self, row: dict) -> None:
        self.pending.append((row, self._sum / self._micro))
        self._sum, self._micro = None, 0

    def flush(self, describe_failure) -> list[dict]:
        """The pending rows with `loss` (and `loss_<part>`) filled in; `describe_failure(row, value)` builds the
        message of the `NonFiniteLossError` raised for the first non-finite loss."""
        if not self.pending:
            return []
        values = self.accelerator.reduce(torch.stack([v for _, v in self.pending]), "mean").cpu().tolist()
        rows = []
        for (row, _), (loss, *parts) in zip(self.pending, values, strict=True):
            if not torch.isfinite(torch.tensor(loss)):
                self.pending = []
                raise NonFiniteLossError(describe_failure(row, loss))
            rows.append({**row, "loss": loss, **{f"loss_{n}": p for n, p in zip(self.names, parts, strict=True)}})
        self.pending = []
        return rows
