"""Run one stage command: its own process group, output teed to a log, timeout and cancel.

Every stage kind goes through :func:`run_logged`; on timeout or cancellation the whole
group gets SIGTERM, then SIGKILL, so a stage never outlives the run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tempstack.backends.local.process import signal_group
from tempstack.masking import Masker
from tempstack.services.base import run_tag
from tempstack.stages.outcome import Status

TAIL_LINES = 30


@dataclass
class StageContext:
    """What every stage kind is given: where to write, the clock, the environment."""

    name: str
    env: dict[str, str]
    stack_dir: Path
    out_dir: Path  # this attempt's directory under <report dir>/stages/
    now: Callable[[], float]
    cancel: threading.Event
    echo: bool = True
    attempt: int = 1
    deadline: float | None = None  # an instant of ``now()``; the stage's own timeout
    started: float | None = None  # set when its command starts
    #: the project's Python, which pytest, playwright and locust stages run with
    python: str = sys.executable
    #: masks the run's secrets in the output on its way to the log and the terminal
    masker: Masker = field(default_factory=Masker)
    #: runs the command somewhere else (a Job in the cluster) instead of here
    runner: Callable[[StageContext, Sequence[str], Path], Finished] | None = None

    @property
    def log_path(self) -> Path:
        return self.out_dir / "output.log"


@dataclass
class Finished:
    start: float
    end: float
    returncode: int | None
    status: Status | None = None  # TIMEOUT or ERROR when we stopped it; None if it exited
    error: str | None = None  # could not start


def _pump(source: IO[bytes], log: IO[bytes], echo: IO[bytes] | None, masker: Masker) -> None:
    """Drain the stage's output, masked, to its log (and the terminal) until it closes.

    A terminal that goes away (``tempstack run | head``) stops the echo, never the
    draining: a stage blocked on a full pipe would otherwise hang until its timeout.
    """
    fd = source.fileno()
    stream = masker.stream()

    def write(data: bytes) -> None:
        nonlocal echo
        log.write(data)
        log.flush()
        if echo is not None:
            try:
                echo.write(data)
                echo.flush()
            except OSError:
                echo = None

    for chunk in iter(lambda: os.read(fd, 65536), b""):
        write(stream.feed(chunk))
    write(stream.flush())


def run_logged(ctx: StageContext, argv: Sequence[str], cwd: Path) -> Finished:
    if ctx.runner is not None:
        return ctx.runner(ctx, argv, cwd)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    start = ctx.started = ctx.now()
    with ctx.log_path.open("ab") as log:
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=ctx.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            message = f"could not start {argv[0]!r}: {exc}"
            log.write(message.encode() + b"\n")
            return Finished(start, ctx.now(), 127, Status.ERROR, message)
        assert proc.stdout is not None
        echo = sys.stdout.buffer if ctx.echo else None
        pump = threading.Thread(
            target=_pump, args=(proc.stdout, log, echo, ctx.masker), daemon=True
        )
        pump.start()
        status: Status | None = None
        try:
            while proc.poll() is None:
                if ctx.cancel.is_set():
                    status = Status.ERROR
                    break
                if ctx.deadline is not None and ctx.now() >= ctx.deadline:
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
            proc.stdout.close()
    error = None
    if status is Status.TIMEOUT:
        error = "timed out"
    elif status is Status.ERROR:
        error = "cancelled"
    return Finished(start, ctx.now(), proc.returncode, status, error)


def stage_env(base: dict[str, str], exports: dict[str, str], own: dict[str, str]) -> dict[str, str]:
    """Caller env and ``[env]``, then the exports, then the stage's own ``env``."""
    return {
        "PYTHONUNBUFFERED": "1",
        **base,
        **exports,
        **own,
        **run_tag(exports["TEMPSTACK_RUN_ID"]),
    }
