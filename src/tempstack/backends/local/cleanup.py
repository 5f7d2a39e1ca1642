"""Find and remove everything a run created, from its ``state.json`` and its tag alone.

Used by the reaper (when the runner died), by ``down`` and ``gc`` (when no runner is
left) and as the final sweep of every normal teardown. What a state file says is not taken
on trust alone (the home it lives in is checked in :mod:`paths`; this is the second line):

* processes: only those owned by this user (or, as root, by the unprivileged server user)
  and started after the run was created, that carry the run's tag or belong to a process
  group the run recorded;
* directories: the run's own, and recorded ones only inside the run's directory or
  tempstack's home, or holding our marker file with the run's id;
* ports leased to the run.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from tempstack._files import MARKER_FILE, marked
from tempstack.backends.local import paths, ports
from tempstack.backends.local.process import group_alive, signal_group
from tempstack.backends.local.state import StateFile, load_state
from tempstack.services.base import OWNER_VAR
from tempstack.services.users import DEFAULT_USER

SWEEP_GRACE = 3.0  # seconds between the polite signal and SIGKILL when nobody waits in order


def our_uids() -> set[int]:
    """Who may own a run's processes: this user and, as root, the server user."""
    uids = {os.geteuid()}
    if os.geteuid() == 0:
        for name in {os.environ.get("TEMPSTACK_USER", DEFAULT_USER), DEFAULT_USER}:
            with contextlib.suppress(KeyError):
                uids.add(pwd.getpwnam(name).pw_uid)
    return uids


def _ours(proc: psutil.Process, since: float, uids: set[int]) -> bool:
    """Owned by us and started after the run began (a recycled or named pid is not)."""
    try:
        return (
            proc.uids().real in uids
            and proc.create_time() >= since - 1.0  # create_time has tick resolution
            and proc.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.Error:
        return False


def tagged_pids(run_id: str, since: float = 0.0) -> list[int]:
    """Pids whose environment carries our run id (double-forked daemons included), owned
    by us and started after ``since``."""
    needle = f"{OWNER_VAR}={run_id}\0".encode()
    uids = our_uids()
    # `tempstack env` exports the run id, so the shell (and this very `tempstack down`) may
    # carry it: never count ourselves or our ancestors as the run's processes.
    spared = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in spared:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                tagged = needle in fh.read() + b"\0"
        except OSError:
            continue
        if tagged and _ours(psutil.Process(int(entry.name)), since, uids):
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def recorded_groups(state: dict[str, Any]) -> dict[int, int]:
    """{pgid: stop signal} for recorded service groups that still hold a process of ours.

    Some servers (PostgreSQL) overwrite their environment with the process title, so the
    tag alone cannot find them; a group member of ours (see :func:`_ours`) started after
    the run was created identifies the group without risking a recycled pgid.
    """
    created = float(state.get("created_ts") or time.time())
    uids = our_uids()
    members: dict[int, list[psutil.Process]] = {}
    for proc in psutil.process_iter():
        try:
            members.setdefault(os.getpgid(proc.pid), []).append(proc)
        except (ProcessLookupError, PermissionError):
            continue
    groups: dict[int, int] = {}
    for svc in state.get("services", {}).values():
        pgid = svc.get("pgid")
        if not pgid:
            continue
        if any(_ours(p, created, uids) for p in members.get(int(pgid), [])):
            groups[int(pgid)] = int(signal.Signals[svc.get("stop_signal", "SIGTERM")])
    return groups


def kill_run_processes(state: dict[str, Any], grace: float = SWEEP_GRACE) -> None:
    """Politely stop, then SIGKILL, every recorded group and tagged process of the run."""
    run_id = state["run_id"]
    since = float(state.get("created_ts") or time.time())
    groups = recorded_groups(state)
    for pgid, sig in groups.items():
        signal_group(pgid, sig)
    tagged = [p for p in tagged_pids(run_id, since) if _alive(p)]
    for pid in tagged:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    interval = 0.002
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in tagged_pids(run_id, since)) and not any(
            group_alive(g) for g in groups
        ):
            break
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)
    for pgid in groups:
        signal_group(pgid, signal.SIGKILL)
    for _ in range(3):
        left = [p for p in tagged_pids(run_id, since) if _alive(p)]
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        psutil.wait_procs([psutil.Process(p) for p in left if psutil.pid_exists(p)], timeout=2)


def removable(path: Path, run_id: str, run_dir: Path) -> bool:
    """A directory the state names may go if it is inside the run's directory or
    tempstack's (private) home, or holds our marker with the run's id; never a link."""
    if path.is_symlink() or not path.is_dir():
        return False
    real, home = path.resolve(), paths.home().resolve()
    in_home = real.is_relative_to(home) and len(real.relative_to(home).parts) >= 2
    return real.is_relative_to(run_dir.resolve()) or in_home or marked(real, run_id)


def remove_run_files(state: dict[str, Any], run_dir: Path) -> None:
    """Release the run's ports and delete its directories and registry entry."""
    run_id = state["run_id"]
    ports.release(run_id)
    for extra in state.get("dirs", []):
        path = Path(os.path.abspath(extra))
        if removable(path, run_id, run_dir):
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            print(f"{run_id}: left {path} alone: not inside the run and no {MARKER_FILE} "
                  "of this run in it", file=sys.stderr)
    # run_dir may be the registry link to a --data-dir run: remove where it points (the
    # directory the state was read from), never a path the state merely names
    shutil.rmtree(run_dir.resolve(), ignore_errors=True)
    if not run_dir.is_symlink():
        shutil.rmtree(run_dir, ignore_errors=True)
    link = paths.runs_dir() / run_id
    if link.is_symlink():
        link.unlink(missing_ok=True)


def destroy(run_dir: Path, grace: float = SWEEP_GRACE) -> bool:
    """Tear down a run from its files alone; False if ``run_dir`` is not a tempstack run."""
    state = load_state(run_dir)
    if state is None:
        return False
    with contextlib.suppress(OSError):
        StateFile(run_dir / "state.json").update(status="stopping")
    kill_run_processes(state, grace)
    remote = state.get("kubernetes")
    if remote and not state.get("kubernetes_deleted"):
        _delete_namespace(remote)
    remove_run_files(state, run_dir)
    return True


def _delete_namespace(recorded: dict[str, Any]) -> None:
    """A Kubernetes run whose runner died: its namespace goes too (``gc`` retries)."""
    try:
        from tempstack.backends.kubernetes.namespaces import delete_recorded

        delete_recorded(recorded)
    except Exception as exc:  # unreachable cluster: gc --backend kubernetes finds it later
        print(f"could not delete namespace {recorded.get('namespace')}: {exc}", file=sys.stderr)
