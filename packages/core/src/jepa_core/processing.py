"""Saving a domain processor's fitted state (scaling statistics, vocabularies, …) as JSON next to the model."""

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot save a {type(value).__name__} in a processor file; convert it to plain values")


class SavableProcessor:
    """Mixin: `save_pretrained(folder)` / `from_pretrained(folder)` for a processor described by `to_dict()`.

    Subclasses implement `to_dict()` (plain JSON values) and may override `from_dict(values, **kwargs)` (default:
    `cls(**values, **kwargs)`) and `processor_file`. The file records the class, so loading a file written by
    another processor is a clear error.
    """

    processor_file: ClassVar[str] = "preprocessor_config.json"

    def to_dict(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, values: dict, **kwargs):
        return cls(**values, **kwargs)

    def save_pretrained(self, folder: str | Path) -> Path:
        path = Path(folder) / self.processor_file
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {"processor_class": type(self).__name__, **self.to_dict()}
        path.write_text(json.dumps(state, indent=2, default=_json_value))
        return path

    @classmethod
    def from_pretrained(cls, folder: str | Path, **kwargs):
        path = Path(folder) / cls.processor_file
        if not path.is_file():
            raise FileNotFoundError(
                f"{folder} has no {cls.processor_file}; save the processor fitted on the training data there "
                "with processor.save_pretrained(folder)"
            )
        values = json.loads(path.read_text())
        found = values.pop("processor_class", cls.__name__)
        if found != cls.__name__:
            raise ValueError(
                f"{path} was written by {found}, not {cls.__name__}; load it with the package that made it"
            )
        return cls.from_dict(values, **kwargs)
