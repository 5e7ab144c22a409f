"""Crash-safe checkpoints: each is written to a temporary folder and renamed into place, then `latest` is
rewritten atomically, so an interrupted write never leaves a broken checkpoint behind `latest`."""

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

PREFIX = "step_"


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def checkpoint_name(step: int) -> str:
    return f"{PREFIX}{step:08d}"


def checkpoints_by_step(root: Path) -> list[Path]:
    """Complete checkpoint folders, oldest first, ordered by their step number (at any number of digits)."""
    if not root.is_dir():
        return []
    found = [p for p in root.glob(f"{PREFIX}*") if p.is_dir() and p.name[len(PREFIX) :].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest complete checkpoint under `root`, or None."""
    root = Path(root)
    pointer = root / "latest"
    if pointer.is_file() and (root / pointer.read_text().strip()).is_dir():
        return root / pointer.read_text().strip()
    complete = checkpoints_by_step(root)
    return complete[-1] if complete else None


def finalize_checkpoint(root: Path, tmp: Path, step: int, keep: int) -> Path:
    """Move a fully written `tmp` folder into place, point `latest` at it and prune old ones."""
    final = root / checkpoint_name(step)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    write_text_atomic(root / "latest", final.name)
    for old in checkpoints_by_step(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def save_train_state(folder: Path, state: dict, tensors: dict[str, torch.Tensor]) -> None:
    """Plain JSON for counters and history, safetensors for tensors (e.g. generator states): nothing pickled."""
    (folder / "train_state.json").write_text(json.dumps(state))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "train_state.safetensors"))


def load_train_state(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    state_path, tensor_path = folder / "train_state.json", folder / "train_state.safetensors"
    if not state_path.is_file() or not tensor_path.is_file():
        raise FileNotFoundError(f"checkpoint {folder} is incomplete (no train_state); delete it to resume earlier")
    return json.loads(state_path.read_text()), load_file(str(tensor_path))


def join_collator_states(states: list[dict]) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """Each process's collator `state_dict()` → (JSON-able parts, tensors keyed "collator_<rank>.<key>")."""
    plain, tensors = [], {}
    for rank, state in enumerate(states):
        plain.append({k: v for k, v in state.items() if not isinstance(v, torch.Tensor)})
        tensors.update({f"collator_{rank}.{k}": v.cpu() for k, v in state.items() if isinstance(v, torch.Tensor)})
    return plain, tensors


def split_collator_state(plain: list[dict], tensors: dict[str, torch.Tensor], rank: int) -> dict:
    """The inverse of `join_collator_states` for one process."""
    prefix = f"collator_{rank}."
    return {**plain[rank], **{k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}}
