"""Shared parts of the converters that import the authors' published checkpoints (`<package>.convert_<source>`)."""

import pickle
from pathlib import Path

import torch

NO_LICENSE_NOTE = (
    "the source repository states no licence; the weights remain the authors' — ask them before redistributing"
)


def read_checkpoint(path: str | Path, model: str, resave_hint: str, allowed: tuple[type, ...] = ()) -> dict:
    """`torch.load(weights_only=True)` of a foreign checkpoint dict, with errors that say what is wrong.

    A file that needs code to unpickle is refused (`resave_hint` says how to re-save its tensors); `allowed` names
    plain classes to let through (e.g. `argparse.Namespace`). `model` names the expected checkpoint in messages.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        with torch.serialization.safe_globals(list(allowed)):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path} holds Python objects whose unpickling would run code ({str(error).splitlines()[0]}); it is "
            f"refused. {resave_hint}"
        ) from error
    except Exception as error:  # a damaged archive fails in many ways (zip, EOF, memo KeyError)
        raise ValueError(f"{path} is not a readable PyTorch checkpoint (truncated or damaged?): {error}") from error
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path} holds a {type(checkpoint).__name__}, not a {model} checkpoint dict")
    return checkpoint


def load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str, model: str) -> None:
    """`module.load_state_dict(state)` after checking names and shapes, with an error naming what differs."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{source} does not match {model} of this configuration: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}; is it a {model} checkpoint?"
        )
    module.load_state_dict(state)


def write_converted_card(domain, folder: str | Path, config, description: str, paper_url: str, data: str) -> None:
    """The model card of a converted checkpoint: the source and its licence in `description`."""
    from .hub import model_card, write_model_card

    card = model_card(
        config, library_name=domain.distribution, import_name=domain.import_name, domain=domain.name,
        paper_url=paper_url, license="other", description=description, repo_id=str(folder),
        example_input=domain.example_input, data_description=data,
    )  # fmt: skip
    write_model_card(folder, card)
