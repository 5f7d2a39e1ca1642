"""Server settings (``[services.db] settings``): names and values that cannot inject.

PostgreSQL and Redis settings reach the server as ``-c name=value`` / ``--name value``
arguments. A name is a setting's name, never ``"work mem; x"``; a value is one line with
no control character, so it can never carry a second setting into a configuration file,
a ``postgresql.auto.conf`` or a log line. Whether a PostgreSQL name is one the installed
server knows is checked later, against the server itself (``services.postgres_check``).
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import AfterValidator

from tempstack.spec.fields import describe

_PG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_REDIS_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _pg_name(name: str) -> str:
    if not _PG_NAME.match(name):
        raise ValueError(
            f"{describe(name)} is not a PostgreSQL setting name: letters, digits and '_' "
            "(an extension's as 'ext.name'), for example work_mem or pg_stat_statements.max"
        )
    return name


def _redis_name(name: str) -> str:
    if not _REDIS_NAME.match(name):
        raise ValueError(
            f"{describe(name)} is not a Redis setting name: letters, digits, '-' and '_', "
            "for example maxmemory-policy"
        )
    return name


def _value(value: str | int | float | bool) -> str | int | float | bool:
    if isinstance(value, str) and _CONTROL.search(value):
        raise ValueError(
            f"{describe(value)} holds a line break or control character; a setting's value "
            "is one line of printable text"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a setting value; give a finite number or a string")
    return value


def non_empty_password(value: str) -> str:
    if not value:
        raise ValueError(
            "an empty password cannot be used to log in; leave 'password' out for a random "
            "one per run, or give a non-empty one"
        )
    return value


PgSettingName = Annotated[str, AfterValidator(_pg_name)]
SettingName = Annotated[str, AfterValidator(_redis_name)]
SettingValue = Annotated[str | int | float | bool, AfterValidator(_value)]
