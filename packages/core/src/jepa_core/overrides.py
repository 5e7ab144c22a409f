"""`--set FIELD=VALUE`: config fields from the command line, and errors whose fix names the field.

Values are read as JSON when they parse (`3`, `0.5`, `true`, `null`, `["I", "II"]`), else as text; a
comma-separated value fills a list or tuple field (`--set lead_names=I,II,V2`).
"""

import difflib
import json
import types
import typing
from dataclasses import fields


class ConfigFieldError(ValueError):
    """A problem that a config field fixes. `str()` names the Python form; `cli_message()` the `--set` form."""

    def __init__(self, problem: str, field: str, value: object = "VALUE"):
        self.problem, self.field, self.value = problem, field, value
        super().__init__(f"{problem}; set the config field {field}={value!r} (command line: --set {field}={value})")

    def cli_message(self) -> str:
        return f"{self.problem}; pass --set {self.field}={_cli_text(self.value)}"


def _cli_text(value: object) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def config_fields(config_class: type) -> dict[str, object]:
    """The settable fields of a (strict dataclass) config class: name → type annotation."""
    return {f.name: f.type for f in fields(config_class) if not f.name.startswith("_")}


def _is_sequence(annotation: object) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("list", "tuple")) or "list[" in annotation or "tuple[" in annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_sequence(a) for a in typing.get_args(annotation))
    return origin in (list, tuple) or annotation in (list, tuple)


def _parse_value(text: str, annotation: object) -> object:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    if _is_sequence(annotation) and isinstance(value, str | int | float) and not isinstance(value, bool):
        value = [_parse_value(part.strip(), None) for part in str(text).split(",") if part.strip()]
    if isinstance(value, list) and _is_sequence(annotation) and "tuple" in str(annotation):
        value = tuple(value)
    return value


def parse_overrides(pairs: list[str] | None, config_class: type) -> dict[str, object]:
    """`["field=value", ...]` → {field: value}, checked against the config's fields (a typo names the valid ones)."""
    known = config_fields(config_class)
    values = {}
    for pair in pairs or []:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--set {pair!r}: write FIELD=VALUE, e.g. --set learning_rate=5e-4")
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(
                f"--set {name}: {config_class.__name__} has no field {name!r}.{hint} "
                f"Valid fields: {', '.join(sorted(known))}"
            )
        values[name] = _parse_value(text, known[name])
    return values
