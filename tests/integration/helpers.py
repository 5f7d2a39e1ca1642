"""Helpers for integration tests: run the real CLI, wait for runs, look for survivors."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

STACK = """
[stack]
name = "{name}"

[services.db]
kind = "postgres"
databases = ["app", "extra"]

[services.cache]
kind = "redis"

[services.web]
command = ["{python}", "-m", "http.server", "${{self.port}}", "--bind", "127.0.0.1"]
ready = {{ http = "/" }}
depends_on = {{ db = "ready", cache = "ready" }}
env = {{ DATABASE_URL = "${{db.url}}" }}
"""


def basic_stack(name: str = "basic") -> str:
    return STACK.format(name=name, python=sys.executable)


def home() -> Path:
    return Path(os.environ["TEMPSTACK_HOME"])


def cli(
    *args: str, cwd: Path | None = None, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tempstack.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def spawn_cli(
    *args: str, cwd: Path | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    out = log.open("wb") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "tempstack.cli", *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # signals from the test reach only this process
        )
    finally:
        if log:
            out.close()  # type: ignore[union-attr]


def states() -> list[dict[str, Any]]:
    out = []
    runs = home() / "runs"
    if not runs.exists():
        return out
    for entry in runs.iterdir():
        try:
            out.append(json.loads((entry / "state.json").read_text()))
        except (OSError, ValueError):
            continue
    return out


def wait_for_status(status: str, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [s for s in states() if s.get("status") == status]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(
        f"no {count} run(s) with status {status!r}; have {[s.get('status') for s in states()]}"
    )


def tagged(run_id: str | None = None) -> list[int]:
    """Pids carrying a run id of this test session (any run id when ``run_id`` is None)."""
    home_tag = f"TEMPSTACK_HOME={home()}".encode()
    found = []
    for proc in psutil.process_iter():
        try:
            data = Path(f"/proc/{proc.pid}/environ").read_bytes()
        except OSError:
            continue
        if proc.pid == os.getpid():
            continue
        if run_id is not None:
            if f"TEMPSTACK_RUN_ID={run_id}\0".encode() in data + b"\0":
                found.append(proc.pid)
        elif b"TEMPSTACK_RUN_ID=" in data and home_tag in data:
            found.append(proc.pid)
    return [p for p in found if _alive(p)]


def group_members(groups: set[int]) -> list[int]:
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) in groups and _alive(proc.pid):
                found.append(proc.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def assert_gone(state: dict[str, Any], within: float = 10.0) -> None:
    """Within ``within`` seconds: no process with the run id, ports free, run dir gone."""
    run_id = state["run_id"]
    raw_ports = state.get("ports") or {}
    ports = [p for p in (raw_ports.values() if isinstance(raw_ports, dict) else raw_ports) if p]
    groups = {int(s["pgid"]) for s in state.get("services", {}).values() if s.get("pgid")}
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        # by tag, and by process group (servers such as PostgreSQL's children rewrite their
        # environment for the process title, so the tag alone cannot see them)
        left = tagged(run_id) + [p for p in group_members(groups) if p not in tagged(run_id)]
        dir_left = Path(state["run_dir"]).exists()
        busy = [p for p in ports if not port_free(p)]
        if not left and not dir_left and not busy:
            return
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} left: pids {left}, dir {dir_left}, busy ports {busy}")


def kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}


# Debian's Chromium, never a Playwright download (the network is closed); as root it needs
# --no-sandbox, and the other flags keep it from stalling on connections it cannot make.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


#: a service that ignores SIGTERM and SIGINT: only SIGKILL ends it
STUBBORN_STACK = """
[stack]
name = "stubborn"
[services.mule]
command = "trap '' TERM INT; echo up; while true; do sleep 0.2; done"
ready = { log = "^up$" }
"""
