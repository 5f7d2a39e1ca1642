"""JSON comparison shared by the mock's matcher and ``tempstack.mock``'s assertions.

Kept free of heavy imports: ``tempstack.mock`` (a test helper) imports it into the tests'
process, where neither aiohttp nor the spec models are needed.

Scalars compare as JSON values, not as Python objects: ``true`` never equals ``1`` and
``"1"`` never equals ``1``, while ``1`` equals ``1.0`` (JSON has one number type).
"""

from __future__ import annotations

import json
from typing import Any


def json_mismatch(want: Any, got: Any, at: str = "json", *, exact: bool = False) -> str | None:
    """The first place where ``got`` does not contain ``want``, or None if it does.

    Objects match as subsets (given keys must be present with matching values, recursively)
    unless ``exact``, when ``got`` may have no other keys either. Lists must have the same
    length and match element by element; scalars must be equal as JSON values.
    """
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return f"{at}: an object expected, got {_short(got)}"
        for key, value in want.items():
            if key not in got:
                return f"{at}.{key}: missing"
            if (diff := json_mismatch(value, got[key], f"{at}.{key}", exact=exact)) is not None:
                return diff
        if exact and (extra := [key for key in got if key not in want]):
            return f"{at}.{extra[0]}: not expected, got {_short(got[extra[0]])}"
        return None
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return f"{at}: {_short(want)} expected, got {_short(got)}"
        for index, (w, g) in enumerate(zip(want, got, strict=True)):
            if (diff := json_mismatch(w, g, f"{at}[{index}]", exact=exact)) is not None:
                return diff
        return None
    same_kind = isinstance(want, bool) == isinstance(got, bool) and (
        isinstance(want, str) == isinstance(got, str)
    )
    if same_kind and want == got:
        return None
    return f"{at}: {_short(want)} expected, got {_short(got)}"


def json_equal(want: Any, got: Any) -> bool:
    """Whether two JSON values are the same value (``true`` is not ``1``)."""
    return json_mismatch(want, got, exact=True) is None


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
