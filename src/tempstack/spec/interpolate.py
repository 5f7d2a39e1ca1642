"""``${service.attr}``, ``${self.attr}``, ``${VAR}`` / ``${VAR:-default}`` and ``$$``.

Parsing is separate from resolving so ``check`` can name every bad reference before any
port is allocated, and resolving can happen once every export is known.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_TOKEN = re.compile(r"\$\$|\$\{([^}]*)\}")
_SERVICE_REF = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_]*)$")
_ENV_REF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)


@dataclass(frozen=True)
class Ref:
    """One ``${...}`` in a string: a service attribute or a caller environment variable."""

    text: str
    service: str | None = None
    attr: str | None = None
    var: str | None = None
    default: str | None = None


class InterpolationSyntaxError(ValueError):
    pass


def parse(value: str) -> list[Ref]:
    """Every reference in ``value``; raises on a malformed ``${...}`` or a lone ``${``."""
    refs: list[Ref] = []
    for match in _TOKEN.finditer(value):
        if match.group(0) == "$$":
            continue
        inner = match.group(1).strip()
        if m := _SERVICE_REF.match(inner):
            refs.append(Ref(match.group(0), service=m.group(1), attr=m.group(2)))
        elif m := _ENV_REF.match(inner):
            refs.append(Ref(match.group(0), var=m.group(1), default=m.group(2)))
        else:
            raise InterpolationSyntaxError(
                f"{match.group(0)!r} is not a reference; use ${{service.attr}}, ${{self.port}}, "
                "${VAR} or ${VAR:-default} (write $$ for a literal $)"
            )
    stripped = _TOKEN.sub("", value)
    if "${" in stripped:
        raise InterpolationSyntaxError("unclosed '${'; write $$ for a literal $")
    return refs


def substitute(value: str, lookup: Callable[[Ref], str]) -> str:
    """Replace each reference by ``lookup(ref)`` and ``$$`` by ``$``."""

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        (ref,) = parse(match.group(0))
        return lookup(ref)

    return _TOKEN.sub(repl, value)


def resolver(
    exports: Mapping[str, Mapping[str, str]], environ: Mapping[str, str], self_name: str | None
) -> Callable[[Ref], str]:
    """A lookup for ``substitute`` over resolved exports and the caller's environment."""

    def lookup(ref: Ref) -> str:
        if ref.service is not None and ref.attr is not None:
            name = self_name if ref.service == "self" and self_name else ref.service
            return exports[name][ref.attr]
        assert ref.var is not None
        value = environ.get(ref.var)
        if ref.default is not None and not value:
            return ref.default  # like the shell's ${VAR:-default}: unset or empty
        if value is None:
            raise KeyError(ref.var)
        return value

    return lookup
