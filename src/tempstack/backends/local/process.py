"""A service process in its own process group, tagged with the run id.

Stopping signals the whole group, waits (backing off from a few milliseconds), then sends
SIGKILL to whatever is left of the group. It is idempotent and never raises for a process
that is already gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from tempstack._bounds import MAX_STOP_GRACE, bounded
from tempstack.services.base import Launch, run_tag


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def group_alive(pgid: int) -> bool:
    return signal_group(pgid, 0)


class LocalProcess:
    def __init__(self, name: str, launch: Launch, log_path: Path, run_id: str) -> None:
        self.name = name
        self.log_path = log_path
        env = {**launch.env, **run_tag(run_id)}
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                launch.argv,
                cwd=launch.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own session and process group, off the terminal
                user=launch.run_as,
            )
        self.pgid = self.popen.pid
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self.popen.pid

    def returncode(self) -> int | None:
        with self._lock:
            return self.popen.poll()

    def wait(self, timeout: float | None, cancel: threading.Event | None = None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + bounded(timeout)
        interval = 0.002
        while True:
            code = self.returncode()
            if code is not None:
                return code
            if cancel is not None and cancel.is_set():
                return None
            if deadline is not None and time.monotonic() >= deadline:
                return None
            pause = interval if deadline is None else min(interval, deadline - time.monotonic())
            time.sleep(max(pause, 0))
            interval = min(interval * 1.5, 0.1)

    def stop(self, signal_name: str, timeout: float, force: threading.Event) -> int | None:
        sig = signal.Signals[signal_name]
        if self.returncode() is None and not force.is_set():
            signal_group(self.pgid, sig)
            deadline = time.monotonic() + bounded(timeout, MAX_STOP_GRACE)  # then SIGKILL
            interval = 0.002
            while self.returncode() is None and time.monotonic() < deadline:
                if force.wait(interval):
                    break
                interval = min(interval * 1.5, 0.05)
        # SIGKILL whatever is left of the group, the leader included (children it left too)
        signal_group(self.pgid, signal.SIGKILL)
        try:
            return self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None
