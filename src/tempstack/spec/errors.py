"""Turn pydantic's validation errors into one line each: file, dotted key, what is valid."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from tempstack.errors import SpecError

# pydantic adds the member type of a union to the location ("command", "str"); drop those.
_TYPE_TAGS = ("str", "int", "float", "bool", "list[", "dict[", "function-", "lax-", "json-")
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


def _is_tag(part: Any) -> bool:
    return isinstance(part, str) and (part.startswith(_TYPE_TAGS) or part[:1].isupper())


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The BaseModel classes an annotation can hold (through Optional, unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
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
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        models = _models_in(field.annotation)
        current = models[0] if len(models) == 1 else None
    return current


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def valid_keys(model: type[BaseModel]) -> str:
    return ", ".join(sorted(model.model_fields))


def convert(
    exc: ValidationError, model: type[BaseModel], file: str, prefix: str, what: str
) -> list[SpecError]:
    """One ``SpecError`` per distinct location; union alternatives are merged into one line."""
    grouped: dict[tuple[Any, ...], list[Any]] = {}
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not _is_tag(p))
        grouped.setdefault(loc, []).append(err)
    out: list[SpecError] = []
    for loc, errs in grouped.items():
        key = ".".join([prefix, *map(str, loc)]) if prefix else ".".join(map(str, loc))
        first = errs[0]
        if first["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            valid = f"; valid keys for {what}: {valid_keys(parent)}" if parent else ""
            out.append(SpecError(file, key, f"unknown key{valid}"))
            continue
        if first["type"] == "missing":
            out.append(SpecError(file, key, "is required"))
            continue
        type_errors = [e for e in errs if e["type"] in _TYPE_WORDS]
        if len(type_errors) == len(errs):
            wanted = " or ".join(dict.fromkeys(_TYPE_WORDS[e["type"]] for e in errs))
            out.append(SpecError(file, key, f"expected {wanted}, got {_describe(first['input'])}"))
            continue
        err = next((e for e in errs if e["type"] not in _TYPE_WORDS), first)
        msg = str(err["msg"])
        msg = msg.removeprefix("Value error, ")
        if err["type"] == "literal_error":
            msg = f"got {_describe(err['input'])}; {msg[0].lower()}{msg[1:]}"
        elif err["type"] == "string_pattern_mismatch":
            msg = f"{_describe(err['input'])} is not a valid name (letters, digits, '_' or '-')"
        elif err["type"] == "enum":
            msg = f"got {_describe(err['input'])}; {msg[0].lower()}{msg[1:]}"
        out.append(SpecError(file, key, msg))
    return out
