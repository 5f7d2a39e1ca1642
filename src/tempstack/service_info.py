"""``ServiceInfo``: one running service as a caller sees it.

Its own module, free of the engine, because the test-side helpers build it from a run's
state file in a project's environment that holds only tempstack's core.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServiceInfo:
    """One running service as the caller sees it."""

    name: str
    kind: str
    host: str
    port: int | None
    exports: dict[str, str]
    pid: int | None

    @property
    def url(self) -> str | None:
        return self.exports.get("url")
