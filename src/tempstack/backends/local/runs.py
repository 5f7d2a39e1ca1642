"""The runs on this machine, as recorded under ``TEMPSTACK_HOME/runs``: list, stop, reap.

Finding a run needs only the standard library (the pytest plugin's ``--tempstack-run`` in a
project's environment); stopping one imports psutil and the cleanup.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tempstack._clock import parse_iso
from tempstack._files import marked
from tempstack.backends.local import paths
from tempstack.backends.local.state import load_state, ref_alive
from tempstack.errors import UsageError

LIVE = {"starting", "ready", "kept", "stopping"}
HALF_CREATED_GRACE = 3600.0  # a run dir without state.json younger than this may be starting


@dataclass
class RunRecord:
    run_dir: Path
    state: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.state["run_id"])

    @property
    def supervisor_alive(self) -> bool:
        return ref_alive(self.state.get("supervisor"))

    @property
    def expired(self) -> bool:
        expires = parse_iso(self.state.get("expires"))
        return expires is not None and expires < time.time()

    @property
    def status(self) -> str:
        status = str(self.state.get("status", "unknown"))
        if status in ("starting", "ready", "stopping", "failed") and not self.supervisor_alive:
            return "orphaned"
        return status


def list_runs() -> list[RunRecord]:
    out = []
    for entry in sorted(paths.runs_dir().iterdir()):
        state = load_state(entry)
        if state is not None:
            out.append(RunRecord(entry, state))
    return out


def find_run(run_id: str) -> RunRecord:
    runs = list_runs()
    exact = [r for r in runs if r.id == run_id]
    matches = exact or [r for r in runs if r.id.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(r.id for r in runs) or "none"
        raise UsageError(f"no run {run_id!r}; live runs: {known}")
    raise UsageError(f"{run_id!r} matches several runs: {', '.join(r.id for r in matches)}")


def only_run_of(stack_file: Path | None) -> RunRecord:
    runs = [r for r in list_runs() if r.status in LIVE]
    if stack_file is not None:
        runs = [r for r in runs if r.state.get("stack_file") == str(stack_file)]
    if len(runs) == 1:
        return runs[0]
    what = f" of {stack_file}" if stack_file else ""
    if not runs:
        raise UsageError(f"no live run{what}; start one with 'tempstack up' or name a RUN")
    raise UsageError(f"several live runs{what}: {', '.join(r.id for r in runs)}; name one")


def stop(record: RunRecord, timeout: float = 30.0) -> None:
    """Ask the run's supervisor to tear down; if it is gone or does not, do it ourselves."""
    import psutil

    from tempstack.backends.local import cleanup

    supervisor = record.state.get("supervisor")
    if ref_alive(supervisor) and supervisor and supervisor["pid"] != os.getpid():
        try:
            proc = psutil.Process(int(supervisor["pid"]))
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=timeout)
        except psutil.TimeoutExpired:
            pass
        except psutil.Error:
            pass
    if load_state(record.run_dir) is not None:
        cleanup.destroy(record.run_dir)


def reapable(record: RunRecord) -> str | None:
    """Why ``gc`` may remove this run, or None to leave it."""
    status = str(record.state.get("status"))
    if status == "kept":
        return "expired" if record.expired else None
    if not record.supervisor_alive:
        return "orphaned (its supervisor is gone)"
    if record.expired:
        return "expired"
    return None


def stray_dirs() -> tuple[list[Path], list[Path]]:
    """Entries of the runs folder with no (trusted) state, old enough not to be starting:
    (half-created runs of ours, which carry our marker; anything else, to be left alone)."""
    now = time.time()
    ours, foreign = [], []
    for entry in paths.runs_dir().iterdir():
        if load_state(entry) is not None:
            continue
        if entry.is_dir() and not entry.is_symlink() and marked(entry, entry.name):
            if now - entry.stat().st_mtime > HALF_CREATED_GRACE:
                ours.append(entry)
        else:
            foreign.append(entry)
    return ours, foreign
