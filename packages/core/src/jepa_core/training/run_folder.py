"""A run folder is never mixed or lost: a new run refuses a folder holding another run (or clears it with
`overwrite`), a resumed run must match the saved settings, and the folder is checked for write access and space
before any step is taken."""

import shutil
from dataclasses import fields
from pathlib import Path

RUN_MARKERS = ("config.json", "checkpoints", "metrics.json", "pretraining")
# Settings a resumed run may change: they alter neither the numbers computed so far nor the ones to come.
RESUMABLE_CHANGES = {"max_steps", "save_every", "keep_checkpoints", "log_every", "rankme_every", "num_workers",
                     "show_progress", "tensorboard", "resume", "overwrite", "output_dir", "compile"}  # fmt: skip
SETTING_FLAGS = {"max_steps": "--max-steps", "batch_size": "--batch-size", "seed": "--seed",
                 "mixed_precision": "--mixed-precision", "learning_rate": "--lr",
                 "gradient_accumulation_steps": "--gradient-accumulation-steps"}  # fmt: skip


class RunFolderError(FileExistsError):
    """The output folder holds another run, or cannot take this one."""


def prepare_output_dir(folder: Path, resume: bool, overwrite: bool, needed_bytes: int) -> None:
    """Refuse a folder holding another run unless resuming or overwriting; check write access and free space."""
    holds_run = folder.is_dir() and any((folder / name).exists() for name in RUN_MARKERS)
    if holds_run and not resume:
        if not overwrite:
            raise RunFolderError(
                f"{folder} already holds a run; continue it with --resume, replace it with --overwrite, "
                "or choose another --output-dir"
            )
        for child in folder.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write_check"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as error:
        raise PermissionError(
            f"cannot write to the output folder {folder} ({error.strerror or error}); choose another --output-dir"
        ) from error
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise OSError(
            f"{folder} has {free / 2**20:.0f} MB free but a checkpoint of this model needs about "
            f"{needed_bytes / 2**20:.0f} MB; free some space or choose another --output-dir"
        )


def run_settings(args, config) -> dict:
    """What a resumed run must share with the saved one: the model config's own fields (not transformers'
    bookkeeping such as `architectures` or `dtype`, which saving fills in) and the run's arguments."""
    from transformers import PreTrainedConfig

    bookkeeping = {f.name for f in fields(PreTrainedConfig)}
    values = {k: v for k, v in vars(args).items()}
    own = {k: v for k, v in config.to_dict().items() if k not in bookkeeping and not k.startswith("_")}
    values.update({f"config.{k}": v for k, v in own.items()})
    values["config.model_type"] = config.model_type
    return {k: v for k, v in values.items() if isinstance(v, int | float | str | bool | list | type(None))}


def check_resumable(saved: dict, current: dict) -> None:
    """Raise a message naming every setting that differs from the saved run, except the safe ones."""
    differences = []
    for key in sorted(set(saved) | set(current)):
        name = key.removeprefix("config.")
        if name in RESUMABLE_CHANGES or saved.get(key) == current.get(key):
            continue
        flag = SETTING_FLAGS.get(name, f"--set {name}=…" if key.startswith("config.") else name)
        differences.append(f"{name}: saved {saved.get(key)!r}, now {current.get(key)!r} ({flag})")
    if differences:
        model = "" if saved.get("config.model_type") == current.get("config.model_type") else " (another model)"
        raise ValueError(
            f"--resume: this run differs from the saved one{model} in "
            + "; ".join(differences)
            + ". Resume with the saved settings (only --max-steps, --save-every and logging may change), "
            "or start a new run with another --output-dir (or --overwrite)"
        )
