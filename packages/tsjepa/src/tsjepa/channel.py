"""The capacity-limited uplink shared by N devices: quantised packets, an age-of-information scheduler, packet loss.

Each step the uplink carries at most `capacity_bits`; a packet is `values × bits` plus 32 bits for its range
(two float16 numbers, min and max, for uniform quantisation). The "max_age" scheduler sends the packets of the
devices whose information at the remote is oldest (largest age of information; ties by device id), which with no
loss is round-robin; "round_robin" cycles through the devices whatever arrived (the paper's baseline scheduler);
each sent packet is lost independently with probability `packet_loss`. The paper's drift-plus-penalty
scheduler also needs a radio model (required power, fading) it does not fully specify; this is the max-age rule.
"""

import numpy as np

RANGE_BITS = 32
SCHEDULERS = ("max_age", "round_robin")


def payload_bits(num_values: int, bits: int) -> int:
    """Bits of one packet of `num_values` values quantised to `bits` bits each, plus their range."""
    return num_values * bits + RANGE_BITS


def quantize(values: np.ndarray, bits: int) -> np.ndarray:
    """Uniform quantisation of each row of values (N, F) to 2**bits levels over its own [min, max]; returns the
    de-quantised values the receiver reconstructs."""
    if not 1 <= bits <= 32:
        raise ValueError(f"bits must be between 1 and 32, got {bits}")
    values = np.asarray(values, dtype=np.float64)
    low = values.min(axis=1, keepdims=True).astype(np.float16).astype(np.float64)
    high = values.max(axis=1, keepdims=True).astype(np.float16).astype(np.float64)
    span = np.where(high > low, high - low, 1.0)
    levels = 2**bits - 1
    codes = np.clip(np.round((values - low) / span * levels), 0, levels)
    return (low + codes / levels * span).astype(np.float32)


class Uplink:
    """One shared uplink: `step()` → which devices' packets arrive this step, and the bits sent."""

    def __init__(
        self,
        capacity_bits: int,
        packet_bits: int,
        num_devices: int,
        packet_loss: float,
        seed: int = 0,
        scheduler: str = "max_age",
    ):
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {scheduler!r}")
        if num_devices < 1:
            raise ValueError(f"num_devices must be >= 1, got {num_devices}")
        if not 0.0 <= packet_loss < 1.0:
            raise ValueError(f"packet_loss must be in [0, 1), got {packet_loss}")
        if capacity_bits < packet_bits:
            raise ValueError(
                f"a capacity of {capacity_bits} bits per step cannot carry one quantised packet of {packet_bits} bits; "
                "raise the capacity, or lower the bits per value or the embedding size"
            )
        self.packets_per_step = min(capacity_bits // packet_bits, num_devices)
        self.packet_bits, self.packet_loss = packet_bits, packet_loss
        self.ages = np.ones(num_devices, dtype=np.int64)
        self.rng = np.random.default_rng(seed)
        self.scheduler, self.next_device = scheduler, 0

    def step(self) -> tuple[np.ndarray, int]:
        if self.scheduler == "max_age":
            scheduled = np.argsort(-self.ages, kind="stable")[: self.packets_per_step]
        else:
            scheduled = (self.next_device + np.arange(self.packets_per_step)) % len(self.ages)
            self.next_device = (self.next_device + self.packets_per_step) % len(self.ages)
        arrived = scheduled[self.rng.random(len(scheduled)) >= self.packet_loss]
        delivered = np.zeros(len(self.ages), dtype=bool)
        delivered[arrived] = True
        self.ages += 1
        self.ages[delivered] = 1
        return delivered, len(scheduled) * self.packet_bits
