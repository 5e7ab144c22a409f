"""Per-step schedules, pure functions of the optimizer step (so resuming needs only the step count)."""

import math


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, start: float, peak: float, final: float) -> float:
    """Linear start → peak over `warmup_steps`, then cosine peak → final until `total_steps` (I-JEPA's LR)."""
    if step < warmup_steps:
        return start + (peak - start) * step / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return final + (peak - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def cosine(step: int, total_steps: int, start: float, end: float) -> float:
    """Cosine start → end over `total_steps` (I-JEPA's weight decay, which rises 0.04 → 0.4)."""
    progress = min(1.0, step / max(1, total_steps))
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))
