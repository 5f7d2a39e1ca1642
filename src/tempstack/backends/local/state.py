"""``state.json``: the record of a run, written before anything it names is created.

It is what ``ps``, ``env``, ``logs``, ``down``, ``gc`` and the reaper read, so every pid,
port and directory the run creates appears here first. psutil is imported by the two
functions that need it: the pytest plugin reads state files where psutil is not installed.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

from tempstack._files import read_json, write_json

SCHEMA = 1
MARKER = "tempstack-run"
def process_ref(pid: int) -> dict[str, Any]:
    """A pid with its start time, so a recycled pid is never mistaken for ours."""
    import psutil

    try:
        return {"pid": pid, "create_time": psutil.Process(pid).create_time()}
    except psutil.Error:
        return {"pid": pid, "create_time": None}


def ref_alive(ref: dict[str, Any] | None) -> bool:
    if not ref or not ref.get("pid"):
        return False
    try:
        import psutil
    except ImportError:  # a project's environment with tempstack's core only
        return _pid_exists(int(ref["pid"]))
    try:
        proc = psutil.Process(int(ref["pid"]))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        created = ref.get("create_time")
        return created is None or abs(proc.create_time() - float(created)) < 0.01
    except psutil.Error:
        return False


def _pid_exists(pid: int) -> bool:
    """Without psutil: the pid is in use (by whom, and since when, is not checked)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StateFile:
    """Thread-safe read-modify-write of one run's ``state.json``."""

    def __init__(self, path: Path, initial: dict[str, Any] | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.data: dict[str, Any] = initial if initial is not None else read_json(path)
        if initial is not None:
            self.data.setdefault("schema", SCHEMA)
            self.data.setdefault("marker", MARKER)
            self.save()

    def save(self) -> None:
        self.data["updated"] = time.time()
        write_json(self.path, self.data)

    def update(self, **changes: Any) -> None:
        with self._lock:
            self.data.update(changes)
            self.save()

    def update_service(self, name: str, **changes: Any) -> None:
        with self._lock:
            self.data.setdefault("services", {}).setdefault(name, {}).update(changes)
            self.save()


def load_state(run_dir: Path) -> dict[str, Any] | None:
    """The state of a run directory, or None if it is not one of ours: a state file that
    another user owns or may write is never read (it would name what to kill and remove)."""
    path = run_dir / "state.json"
    try:
        st = os.stat(path)
        if st.st_uid != os.geteuid() or st.st_mode & 0o022 or not stat.S_ISREG(st.st_mode):
            return None
        data = read_json(path)
    except (FileNotFoundError, NotADirectoryError, PermissionError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("marker") != MARKER:
        return None
    return data
