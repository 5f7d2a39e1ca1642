"""Stack files nested too deeply to parse or validate: one line naming the key, not a traceback.

Python's TOML parser recurses once or twice per level of ``[[[...]]]`` or ``{a = {...}}``,
and so does validation; a few hundred levels exhaust the interpreter's stack. No stack file
needs more than a handful of levels, so deeper data is refused before it is validated.
"""

from __future__ import annotations

import re
from typing import Any

#: far above any real stack file (routes nest about six levels deep)
MAX_DEPTH = 32
_TABLE = re.compile(r"^\s*\[\[?([^\[\]]+)\]\]?\s*$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\"' -]+?)\s*=")


def too_deep(data: Any, prefix: str = "") -> str | None:
    """The dotted key of the first value nested more than ``MAX_DEPTH`` levels, or None.

    Iterative, so that the check itself cannot overflow the stack.
    """
    stack: list[tuple[Any, str, int]] = [(data, prefix, 0)]
    while stack:
        value, key, depth = stack.pop()
        if depth > MAX_DEPTH:
            return key
        if isinstance(value, dict):
            stack.extend((v, f"{key}.{k}" if key else str(k), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{key}[{i}]", depth + 1) for i, v in enumerate(value))
    return None


def where_deep(text: str) -> tuple[int, str]:
    """(line, key) of the line most likely to hold the deep nesting the parser choked on."""
    lines = text.splitlines() or [""]
    counts = [line.count("[") + line.count("{") for line in lines]
    index = max(range(len(lines)), key=counts.__getitem__)
    m = _KEY.match(lines[index])
    key = m.group(1).strip() if m else ""
    table = next(
        (h.group(1).strip() for line in reversed(lines[:index]) if (h := _TABLE.match(line))), ""
    )
    return index + 1, ".".join(p for p in (table, key) if p)


def problem() -> str:
    return (
        f"nested more than {MAX_DEPTH} levels deep; a stack file needs only a few levels "
        "of arrays and tables"
    )
