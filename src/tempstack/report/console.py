"""What a person sees in the terminal: start progress, endpoints, run listings.

Progress is one line per service with its state and time: a live table on a terminal,
plain lines (one per change) when output goes to a file or a CI log.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from tempstack.engine import ServiceStatus, State
from tempstack.engine.bundle import mask_url

_STYLE = {
    State.PENDING: "dim",
    State.STARTING: "yellow",
    State.STARTED: "yellow",
    State.READY: "green",
    State.COMPLETED: "green",
    State.FAILED: "bold red",
    State.SKIPPED: "dim",
    State.STOPPING: "cyan",
    State.STOPPED: "dim",
}

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


class Progress:
    """Receives ``on_change`` calls from engine threads and renders them."""

    def __init__(self, statuses: Iterable[ServiceStatus] = (), live: bool | None = None) -> None:
        self.statuses: dict[str, ServiceStatus] = {s.name: s for s in statuses}
        self.live_mode = err.is_terminal if live is None else live
        self._live: Live | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        if self.live_mode:
            self._live = Live(self._table(), console=err, refresh_per_second=12, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(None, None, None)
            self._live = None

    def __call__(self, status: ServiceStatus) -> None:
        with self._lock:
            self.statuses[status.name] = status
            if self._live is not None:
                self._live.update(self._table())
            elif status.state not in (State.STOPPING, State.STOPPED):
                where = (
                    f"  {mask_url(status.url or str(status.port or ''))}"
                    if status.state is State.READY
                    else ""
                )
                extra = f"  {status.error}" if status.error else ""
                line = f"  {status.name:<16} {status.state.value:<10} {status.since:7.3f}s"
                err.print(line + where + extra, markup=False)

    def _table(self) -> Table:
        table = Table(box=None, show_header=False, pad_edge=False)
        for s in self.statuses.values():
            style = _STYLE.get(s.state, "")
            endpoint = mask_url(s.url or (str(s.port) if s.port else ""))
            table.add_row(
                f"  {s.name}",
                s.kind,
                f"[{style}]{s.state.value}[/]",
                f"{s.since:6.3f}s",
                endpoint,
                f"[red]{s.error}[/]" if s.error else "",
            )
        return table


def print_endpoints(exports: dict[str, dict[str, str]], env: dict[str, str], run_id: str) -> None:
    table = Table(title=f"run {run_id}", title_justify="left", box=None)
    table.add_column("service")
    table.add_column("endpoint")
    for name, attrs in exports.items():
        table.add_row(name, mask_url(attrs.get("url") or attrs.get("port") or "-"))
    out.print(table)
    out.print("\n[bold]environment[/bold] (also: tempstack env)")
    for key, value in env.items():
        out.print(f"  {key}={value}", markup=False)


def write_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
