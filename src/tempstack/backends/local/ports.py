"""A port registry shared by every tempstack process on the machine.

Each allocated port is a lease file naming the run that holds it, written under an
exclusive ``flock`` so that two runs started in the same instant can never be given the
same port. A port is only leased after a test bind on 127.0.0.1 succeeds; leases of runs
that no longer exist are reclaimed.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

from tempstack._files import locked
from tempstack.backends.local import paths
from tempstack.errors import StartError, UsageError

DEFAULT_RANGE = (20000, 32000)  # below Linux's ephemeral range (32768+)


def port_range() -> tuple[int, int]:
    text = os.environ.get("TEMPSTACK_PORT_RANGE")
    if not text:
        return DEFAULT_RANGE
    low, _, high = text.partition("-")
    try:
        lo, hi = int(low), int(high)
    except ValueError:
        lo, hi = 0, 0
    if not 1024 <= lo < hi <= 65536:
        raise UsageError(
            f"TEMPSTACK_PORT_RANGE={text!r}: expected LOW-HIGH within 1024-65535, e.g. 20000-32000"
        )
    return lo, hi


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _lease_alive(lease: Path) -> bool:
    try:
        run_id = lease.read_text().strip()
    except FileNotFoundError:
        return False
    return (paths.runs_dir() / run_id / "state.json").exists()


def allocate(run_id: str, count: int) -> list[int]:
    """``count`` distinct free ports leased to ``run_id``."""
    if count == 0:
        return []
    directory = paths.ports_dir()
    low, high = port_range()
    candidates = list(range(low, high))
    random.shuffle(candidates)
    chosen: list[int] = []
    with locked(directory / ".lock"):
        for port in candidates:
            lease = directory / str(port)
            if lease.exists() and _lease_alive(lease):
                continue
            if not _bindable(port):
                continue
            lease.write_text(run_id)
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    release(run_id, chosen)
    raise StartError(f"no free port left in {low}-{high} (TEMPSTACK_PORT_RANGE)")


def release_stale() -> int:
    """Drop leases whose run no longer exists, under the lock; returns how many."""
    directory = paths.ports_dir()
    dropped = 0
    with locked(directory / ".lock"):
        for lease in directory.iterdir():
            if lease.name.isdigit() and not _lease_alive(lease):
                lease.unlink(missing_ok=True)
                dropped += 1
    return dropped


def release(run_id: str, ports: list[int] | None = None) -> None:
    """Drop the leases ``run_id`` holds (all of them when ``ports`` is None)."""
    directory = paths.ports_dir()
    names = [str(p) for p in ports] if ports is not None else os.listdir(directory)
    with locked(directory / ".lock"):
        for name in names:
            lease = directory / name
            try:
                if lease.read_text().strip() == run_id:
                    lease.unlink()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                pass
