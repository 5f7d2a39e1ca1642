"""Where services run: ``local`` (process groups on this machine) and ``kubernetes``.

The Protocol is imported on first use, so reading a run's state file needs none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tempstack.backends.base import Backend, Handle

__all__ = ["Backend", "Handle"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tempstack.backends import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
