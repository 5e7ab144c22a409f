"""Accelerate pretraining loop, schedules, optimizer groups, checkpoints and the collapse monitor."""

from .checkpoint import latest_checkpoint
from .monitor import CollapseMonitor
from .optim import build_optimizer, parameter_groups
from .reproducibility import EpochSampler, SeededSamples
from .run_folder import RunFolderError
from .schedules import cosine, warmup_cosine
from .step_log import NonFiniteLossError
from .trainer import TrainingArguments, pretrain

__all__ = [
    "CollapseMonitor",
    "EpochSampler",
    "NonFiniteLossError",
    "RunFolderError",
    "SeededSamples",
    "TrainingArguments",
    "build_optimizer",
    "cosine",
    "latest_checkpoint",
    "parameter_groups",
    "pretrain",
    "warmup_cosine",
]
