"""Notice when a service's port first accepts connections, on the way to being ready.

The startup waterfall shows three moments per service: spawned, listening, ready. The gap
between the last two is the service's own warm-up (PostgreSQL recovery, an app's
imports), which is worth telling apart from a slow spawn.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from tempstack.readiness.base import Probe


class NoticeListening:
    """Wraps a probe; before each check, until it succeeds once, tries a TCP connect."""

    def __init__(self, probe: Probe, host: str, port: int, seen: Callable[[], None]) -> None:
        self.probe, self.host, self.port, self.seen = probe, host, port, seen
        self.description = probe.description
        self.listening = False

    def _try_connect(self) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                pass
        except OSError:
            return
        self.listening = True
        self.seen()

    def check(self) -> bool:
        if not self.listening:
            self._try_connect()
        ok = self.probe.check()
        if ok and not self.listening:  # ready before we saw it listen: same moment
            self.listening = True
            self.seen()
        return ok
