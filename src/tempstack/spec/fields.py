"""Field types shared by every part of the stack file: durations, signals, names, strictness."""

from __future__ import annotations

import re
import signal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``30``, ``2.5``, ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"`` or ``"1d"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30, '500ms', '30s', '5m' or '1h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(
            f"{value!r} is not a duration; use seconds (30) or '500ms', '30s', '5m', '1h'"
        )
    if seconds <= 0:
        raise ValueError(f"{value!r}: a duration must be greater than zero")
    return seconds


def parse_signal(value: Any) -> str:
    """A signal name normalised to ``SIGTERM`` form; accepts ``TERM``, ``sigterm`` or 15."""
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return signal.Signals(value).name
        if isinstance(value, str):
            name = value.upper()
            name = name if name.startswith("SIG") else "SIG" + name
            return signal.Signals[name].name
    except (KeyError, ValueError):
        pass
    raise ValueError(f"{value!r} is not a signal; use a name such as SIGTERM, SIGINT or SIGQUIT")


def _env_value(value: Any) -> Any:
    """Numbers are fine as environment values (``PORT = 8080``); booleans are ambiguous."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
EnvValue = Annotated[str, BeforeValidator(_env_value)]
SignalName = Annotated[str, BeforeValidator(parse_signal)]
Command = str | list[str]


def _non_empty(value: Command) -> Command:
    if (isinstance(value, str) and not value.strip()) or (isinstance(value, list) and not value):
        raise ValueError("must not be empty: give the program to run")
    return value


NonEmptyCommand = Annotated[Command, AfterValidator(_non_empty)]
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"


class Condition(StrEnum):
    STARTED = "started"
    READY = "ready"
    COMPLETED = "completed"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


DependsOn = dict[str, Condition] | list[str]


class ServiceBase(Strict):
    kind: str
    depends_on: DependsOn = Field(default_factory=dict)
    stop_signal: SignalName = "SIGTERM"
    stop_timeout: Duration = 5.0
