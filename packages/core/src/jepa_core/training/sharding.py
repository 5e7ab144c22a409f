"""FSDP2 (`fully_shard`): parameters, gradients, optimizer state and the EMA target sharded over the processes.

Every transformer block (the core `Block`, in the context encoder, the EMA target and the predictor) is its own
unit, the whole model the root unit, all on one 1-D device mesh (NCCL on GPUs, gloo on CPUs). The EMA update runs
on the local shards (online and target parameters are sharded alike). Checkpoints hold the sharded model and
optimizer state written by every process through `torch.distributed.checkpoint`; the final export gathers the full
state on the main process into an ordinary model, so the run folder holds normal safetensors.
"""

import warnings
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule, fully_shard
from torch.distributed.tensor import DTensor

from ..layers.block import Block

SHARDED_STATE = "sharded_state"

# The model's outputs (loss, target embeddings) are never modified in place, which is what this warning is about.
warnings.filterwarnings("ignore", message="FSDP2-wrapped module .* returned a view tensor")


def shard_model(model: nn.Module, device: torch.device, num_processes: int) -> nn.Module:
    """Shard `model` in place: each core transformer `Block` is a unit, the rest belongs to the root unit."""
    mesh = init_device_mesh(device.type, (num_processes,))
    model.to(device)
    for module in model.modules():
        if isinstance(module, Block):
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def local(tensor: torch.Tensor) -> torch.Tensor:
    """This process's shard of a sharded parameter; a plain tensor itself."""
    return tensor.to_local() if isinstance(tensor, DTensor) else tensor


def all_finite(model: nn.Module) -> bool:
    """Whether every weight of every process is finite (the processes agree on the answer)."""
    finite = torch.tensor(float(all(torch.isfinite(local(p)).all() for p in model.parameters())))
    if dist.is_initialized():
        finite = finite.to(next(model.parameters()).device)
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    return bool(finite.item())


def save_sharded(model: nn.Module, optimizer: torch.optim.Optimizer, folder: Path) -> None:
    """Every process writes its shards of the model and optimizer state (called by all processes)."""
    model_state, optimizer_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=str(folder / SHARDED_STATE))


def load_sharded(model: nn.Module, optimizer: torch.optim.Optimizer, folder: Path) -> None:
    """Restore the shards `save_sharded` wrote (with the same number of processes or another)."""
    if not (folder / SHARDED_STATE).is_dir():
        raise FileNotFoundError(
            f"checkpoint {folder} holds no sharded state: it was written without --fsdp; resume it without --fsdp"
        )
    model_state, optimizer_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optimizer": optimizer_state}
    dcp.load(state, checkpoint_id=str(folder / SHARDED_STATE))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])


def unsharded_copy(model: nn.Module) -> nn.Module | None:
    """An ordinary (unsharded, CPU) copy of the model with the full weights on the main process; None elsewhere.
    Called by every process: gathering the shards is collective."""
    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if dist.get_rank() != 0:
        return None
    original_class = next(c for c in type(model).__mro__ if not issubclass(c, FSDPModule))
    with torch.random.fork_rng():  # building the copy must not move the run's random streams
        copy = original_class(model.config)
    copy.load_state_dict(full, strict=True)
    return copy
