"""Find and remove everything a run created, from its ``state.json`` and its tag alone.

Used by the reaper (when the runner died), by ``down`` and ``gc`` (when no runner is
left) and as the final sweep of every normal teardown. It only ever touches processes that
carry ``TEMPSTACK_RUN_ID=<id>`` or were recorded in the run's state, ports leased to the
run, and directories the state names.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from tempstack.backends.local import paths, ports
from tempstack.backends.local.process import group_alive, signal_group
from tempstack.backends.local.state import StateFile, load_state, ref_alive
from tempstack.services.base import OWNER_VAR

SWEEP_GRACE = 3.0  # seconds between the polite signal and SIGKILL when nobody waits in order


def tagged_pids(run_id: str) -> list[int]:
    """Pids whose environment carries our run id (double-forked daemons included)."""
    needle = f"{OWNER_VAR}={run_id}\0".encode()
    # `tempstack env` exports the run id, so the shell (and this very `tempstack down`) may
    # carry it: never count ourselves or our ancestors as the run's processes.
    spared = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in spared:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                if needle in fh.read() + b"\0":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def recorded_groups(state: dict[str, Any]) -> dict[int, int]:
    """{pgid: stop signal} for recorded service groups that still hold a process of ours.

    Some servers (redis) rewrite their environment for the process title, so the tag alone
    cannot find them; the recorded leader (pid and start time) or a group member started
    after the run was created identifies the group without risking a recycled pgid.
    """
    created = state.get("created_ts", 0.0)
    members: dict[int, list[psutil.Process]] = {}
    for proc in psutil.process_iter(["create_time"]):
        try:
            members.setdefault(os.getpgid(proc.pid), []).append(proc)
        except (ProcessLookupError, PermissionError):
            continue
    groups: dict[int, int] = {}
    for svc in state.get("services", {}).values():
        pgid = svc.get("pgid")
        if not pgid:
            continue
        ours = ref_alive(svc.get("process")) or any(
            (p.info["create_time"] or 0) >= created and _alive(p.pid)
            for p in members.get(int(pgid), [])
        )
        if ours:
            groups[int(pgid)] = int(signal.Signals[svc.get("stop_signal", "SIGTERM")])
    return groups


def kill_run_processes(state: dict[str, Any], grace: float = SWEEP_GRACE) -> None:
    """Politely stop, then SIGKILL, every recorded group and tagged process of the run."""
    run_id = state["run_id"]
    groups = recorded_groups(state)
    for pgid, sig in groups.items():
        signal_group(pgid, sig)
    tagged = [p for p in tagged_pids(run_id) if _alive(p)]
    for pid in tagged:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    interval = 0.002
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in tagged_pids(run_id)) and not any(
            group_alive(g) for g in groups
        ):
            break
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)
    for pgid in groups:
        signal_group(pgid, signal.SIGKILL)
    for _ in range(3):
        left = [p for p in tagged_pids(run_id) if _alive(p)]
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        psutil.wait_procs([psutil.Process(p) for p in left if psutil.pid_exists(p)], timeout=2)


def remove_run_files(state: dict[str, Any], run_dir: Path) -> None:
    """Release the run's ports and delete its directories and registry entry."""
    ports.release(state["run_id"])
    for extra in state.get("dirs", []):
        shutil.rmtree(extra, ignore_errors=True)
    # run_dir may be the registry link to a --data-dir run: remove where it points, too
    shutil.rmtree(Path(state.get("run_dir") or run_dir.resolve()), ignore_errors=True)
    if not run_dir.is_symlink():
        shutil.rmtree(run_dir, ignore_errors=True)
    link = paths.runs_dir() / state["run_id"]
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
