"""Local processes: a run directory, process groups, a port registry and a reaper.

``LocalBackend`` is imported on first use: the pytest plugin reads a run's state file
(:mod:`state`) in a project's environment that has none of the backend's dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tempstack.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]


def __getattr__(name: str) -> Any:
    if name == "LocalBackend":
        from tempstack.backends.local.backend import LocalBackend

        return LocalBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
