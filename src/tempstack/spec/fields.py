"""Field types shared by every part of the stack file: durations, signals, names, strictness.

Each rule a value must meet to reach a process or a server lives here once, as an annotated
type every kind uses: a ``Duration`` is finite and at most ``MAX_DURATION``; a
``ProcessString`` (a command, an argument, an environment value) holds no NUL byte and fits
the kernel's per-string ``exec`` limit; an ``EnvName`` is a name ``execve`` can pass.
"""

from __future__ import annotations

import math
import re
import signal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}

#: no wait, timeout or interval of a throwaway test stack is longer than a week; a larger
#: value is a typo (or ``inf``), and would only hang a run that should have failed
MAX_DURATION = 7 * 86400.0
#: Linux's MAX_ARG_STRLEN: the longest single argument or ``NAME=value`` exec accepts,
#: counting its terminating NUL
MAX_ARG_STRLEN = 131072
#: service and stage names become parts of Kubernetes names (a DNS label is 63
#: characters, and the run and stack prefix theirs), Unix socket paths (108 bytes in all)
#: and PostgreSQL identifiers (63)
MAX_NAME = 40
_SHOWN = 80


def describe(value: Any) -> str:
    """``repr(value)`` fit for a one-line message: control characters escaped, long cut."""
    text = repr(value)
    if len(text) <= _SHOWN:
        return text
    size = len(value.encode(errors="replace")) if isinstance(value, str) else len(text)
    return f"{text[:_SHOWN]}... ({size} bytes)"


def parse_duration(value: Any) -> float:
    """Seconds from ``30``, ``2.5``, ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"`` or ``"1d"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30, '500ms', '30s', '5m' or '1h'")
    if isinstance(value, int | float):
        seconds = float(value) if math.isnan(value) or abs(value) < 1e300 else math.inf
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(
            f"{describe(value)} is not a duration; use seconds (30) or '500ms', '30s', '5m', '1h'"
        )
    if math.isnan(seconds):
        raise ValueError("nan is not a duration; use seconds (30) or '500ms', '30s', '5m', '1h'")
    if math.isinf(seconds):
        raise ValueError(
            f"{describe(value)} is not a finite duration; a duration is at most 7 days ('7d')"
        )
    if seconds <= 0:
        raise ValueError(f"{describe(value)}: a duration must be greater than zero")
    if seconds > MAX_DURATION:
        raise ValueError(
            f"{describe(value)} is too long: a duration is at most 7 days ('7d', "
            f"{MAX_DURATION:.0f} seconds)"
        )
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
    except (KeyError, ValueError, OverflowError):
        pass
    raise ValueError(
        f"{describe(value)} is not a signal; use a name such as SIGTERM, SIGINT or SIGQUIT"
    )


def _env_value(value: Any) -> Any:
    """Numbers are fine as environment values (``PORT = 8080``); booleans are ambiguous."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _process_string(value: str) -> str:
    """What ``execve`` can pass: no NUL (it ends the string), at most MAX_ARG_STRLEN bytes."""
    if "\0" in value:
        raise ValueError(
            f"{describe(value)} holds a NUL byte, which no program can receive in an "
            "argument or environment value; remove it"
        )
    size = len(value.encode(errors="surrogateescape"))
    if size >= MAX_ARG_STRLEN:
        raise ValueError(
            f"{describe(value)} is too long for a process to receive: at most "
            f"{MAX_ARG_STRLEN - 1} bytes (the kernel's per-string exec limit); put large "
            "data in a file and pass its path"
        )
    return value


def _env_name(value: str) -> str:
    if not value or "=" in value or "\0" in value:
        raise ValueError(
            f"environment variable name {describe(value)} is not valid: it must be non-empty "
            "and hold no '=' or NUL byte (for example DATABASE_URL)"
        )
    return value


ProcessString = Annotated[str, AfterValidator(_process_string)]
EnvName = Annotated[str, AfterValidator(_env_name)]
Duration = Annotated[float, BeforeValidator(parse_duration)]
EnvValue = Annotated[str, BeforeValidator(_env_value), AfterValidator(_process_string)]
EnvMap = dict[EnvName, EnvValue]
SignalName = Annotated[str, BeforeValidator(parse_signal)]
Command = ProcessString | list[ProcessString]


def name_problem(name: str, what: str) -> str | None:
    """Why ``name`` cannot name a service or stage (``what``), or None when it can."""
    if not (name and name[0].isalpha() and all(c.isalnum() or c in "_-" for c in name)):
        return f"a {what} name must start with a letter and hold only letters, digits, '_' or '-'"
    if len(name) > MAX_NAME:
        return (
            f"a {what} name is at most {MAX_NAME} characters, got {len(name)} (it becomes "
            "part of Kubernetes names, Unix socket paths and PostgreSQL identifiers)"
        )
    return None


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
