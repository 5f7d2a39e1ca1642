"""Turn pydantic's validation errors into one line each: file, dotted key, what is valid."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from tempstack.errors import SpecError
from tempstack.spec.fields import describe

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


_SCALAR_TAGS = frozenset({"str", "int", "float", "bool", "none"})


def _holds(container: Any, part: Any) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _input_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """The parts of a pydantic location that are real places in the stack file.

    pydantic inserts the member type of a union into the location (``command``, ``str``).
    A part that exists in the input is a user key and is always kept, whatever it is
    called; a part that does not is either a missing field of ours (a lowercase name) or
    such a type tag (``str``, ``list[str]``, ``function-after[...]``, a class name).
    """
    out: list[Any] = []
    current = data
    for part in loc:
        if _holds(current, part):
            current = current[part]
        elif isinstance(part, str) and (
            part in _SCALAR_TAGS or "[" in part or "-" in part or part[:1].isupper()
        ):
            continue
        else:
            current = None
        out.append(part)
    return tuple(out)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The BaseModel classes an annotation can hold (through Optional, unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin is list:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found: list[type[BaseModel]] = []
        for arg in typing.get_args(annotation):
            found.extend(_models_in(arg))
        return found
    return []


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):  # an index into a list of models
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        models = _models_in(field.annotation)
        current = models[0] if len(models) == 1 else None
    return current


def dotted(prefix: str, loc: tuple[Any, ...]) -> str:
    """``services.api.routes[2].response``: list indices in brackets, keys joined by dots."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def valid_keys(model: type[BaseModel]) -> str:
    return ", ".join(sorted(field.alias or name for name, field in model.model_fields.items()))


def convert(
    exc: ValidationError,
    model: type[BaseModel],
    file: str,
    prefix: str,
    what: str,
    data: Any = None,
) -> list[SpecError]:
    """One ``SpecError`` per distinct location; union alternatives are merged into one line.

    When a union fails both as a whole (``expected a list``) and inside one member
    (``depends_on.db: got 'healthy'``), only the deeper, more specific line is kept.
    """
    grouped: dict[tuple[Any, ...], list[Any]] = {}
    for err in exc.errors():
        loc = _input_path(tuple(err["loc"]), data)
        grouped.setdefault(loc, []).append(err)
    for loc in list(grouped):
        only_types = all(e["type"] in _TYPE_WORDS for e in grouped[loc])
        deeper = any(len(o) > len(loc) and o[: len(loc)] == loc for o in grouped)
        if only_types and deeper:
            del grouped[loc]
    out: list[SpecError] = []
    for loc, errs in grouped.items():
        key = dotted(prefix, loc)
        first = errs[0]
        if first["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            here = what if len(loc) == 1 else dotted("", loc[:-1])
            valid = f"; valid keys for {here}: {valid_keys(parent)}" if parent else ""
            out.append(SpecError(file, key, f"unknown key{valid}"))
            continue
        if first["type"] == "missing":
            out.append(SpecError(file, key, "is required"))
            continue
        type_errors = [e for e in errs if e["type"] in _TYPE_WORDS]
        if len(type_errors) == len(errs):
            wanted = " or ".join(dict.fromkeys(_TYPE_WORDS[e["type"]] for e in errs))
            out.append(SpecError(file, key, f"expected {wanted}, got {describe(first['input'])}"))
            continue
        err = next((e for e in errs if e["type"] not in _TYPE_WORDS), first)
        msg = str(err["msg"])
        msg = msg.removeprefix("Value error, ")
        if err["type"] == "literal_error":
            msg = f"got {describe(err['input'])}; {msg[0].lower()}{msg[1:]}"
        elif err["type"] == "string_pattern_mismatch":
            pattern = str(err.get("ctx", {}).get("pattern", ""))
            msg = (
                f"{describe(err['input'])} is not a valid name (letters, digits, '_' or '-')"
                if "A-Za-z" in pattern
                else f"{describe(err['input'])} does not have the expected form {pattern}"
            )
        elif err["type"] == "enum":
            msg = f"got {describe(err['input'])}; {msg[0].lower()}{msg[1:]}"
        out.append(SpecError(file, key, msg))
    return out
