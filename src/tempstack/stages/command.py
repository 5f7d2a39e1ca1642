"""``kind = "command"``: any shell command against the ready stack; the exit code decides.

The stage runs in its own process group with the run's exports and ``TEMPSTACK_RUN_ID`` in
its environment; its output goes to the terminal and to ``stages/<name>.log`` in the report
directory. On timeout or cancellation the whole group is stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from tempstack._files import tail
from tempstack.backends.local.process import signal_group
from tempstack.services.base import run_tag
from tempstack.services.process import argv_of, cwd_of, describe
from tempstack.spec.model import StageSpec
from tempstack.stages.outcome import Outcome, Status

TAIL_LINES = 30


def _pump(source: IO[bytes], log: IO[bytes], echo: IO[bytes] | None) -> None:
    fd = source.fileno()
    for chunk in iter(lambda: os.read(fd, 65536), b""):
        log.write(chunk)
        log.flush()
        if echo is not None:
            echo.write(chunk)
            echo.flush()


def run_command_stage(
    name: str,
    spec: StageSpec,
    *,
    env: dict[str, str],
    stack_dir: Path,
    report_dir: Path,
    now: Callable[[], float],
    cancel: threading.Event,
    echo: bool = True,
) -> Outcome:
    log_path = report_dir / "stages" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = now()
    with log_path.open("wb") as log:
        try:
            proc = subprocess.Popen(
                argv_of(spec.run),
                cwd=cwd_of(spec.cwd, stack_dir),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            message = f"stage {name}: could not start {describe(spec.run)!r}: {exc}"
            log.write(message.encode() + b"\n")
            return Outcome(
                stage=name,
                kind="command",
                status=Status.ERROR,
                start=start,
                end=now(),
                returncode=127,
                command=describe(spec.run),
                log=str(log_path),
                tail=[message],
            )
        assert proc.stdout is not None
        pump = threading.Thread(
            target=_pump, args=(proc.stdout, log, sys.stdout.buffer if echo else None), daemon=True
        )
        pump.start()
        status: Status | None = None
        try:
            deadline = None if spec.timeout is None else start + spec.timeout
            while proc.poll() is None:
                if cancel.is_set():
                    status = Status.ERROR
                    break
                if deadline is not None and now() >= deadline:
                    status = Status.TIMEOUT
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.05)
        finally:
            if proc.poll() is None:
                signal_group(proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
            pump.join(timeout=5)
    code = proc.returncode
    if status is None:
        status = Status.PASSED if code == 0 else Status.FAILED
    return Outcome(
        stage=name,
        kind="command",
        status=status,
        start=start,
        end=now(),
        returncode=code,
        command=describe(spec.run),
        log=str(log_path),
        tail=tail(log_path, TAIL_LINES),
    )


def stage_env(base: dict[str, str], exports: dict[str, str], own: dict[str, str]) -> dict[str, str]:
    """Caller env and ``[env]``, then the exports, then the stage's own ``env``."""
    return {
        "PYTHONUNBUFFERED": "1",
        **base,
        **exports,
        **own,
        **run_tag(exports["TEMPSTACK_RUN_ID"]),
    }
