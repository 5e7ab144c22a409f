"""Accelerate pretraining loop, schedules, optimizer groups, checkpoints and the collapse monitor."""

from .checkpoint import latest_checkpoint
from .monitor import CollapseMonitor
from .optim import build_optimizer, parameter_groups
from .schedules import cosine, warmup_cosine
from .trainer import EpochSampler, NonFiniteLossError, TrainingArguments, pretrain

__all__ = [
    "CollapseMonitor",
    "EpochSampler",
    "NonFiniteLossError",
    "TrainingArguments",
    "build_optimizer",
    "cosine",
    "latest_checkpoint",
    "parameter_groups",
    "pretrain",
    "warmup_cosine",
]
