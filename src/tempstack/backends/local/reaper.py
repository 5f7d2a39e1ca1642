"""The reaper: a small process that outlives the runner and cleans up after it.

It is started with the read end of a pipe as stdin; the runner holds the write end and no
other process inherits it. The runner writes ``done`` after a normal teardown, or
``keep <epoch>`` to hand a kept run over; if the pipe closes without either (the runner was
SIGKILLed or crashed), the reaper tears the run down from ``state.json`` and the run tag.
A kept run is torn down when its expiry passes or when the reaper gets SIGTERM (``down``).

Run as ``python -m tempstack.backends.local.reaper RUN_DIR``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from tempstack.backends.local import cleanup
from tempstack.backends.local.state import StateFile, load_state, process_ref


def _keep(run_dir: Path, until: float) -> None:
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    state = StateFile(run_dir / "state.json")
    state.update(status="kept", supervisor=process_ref(os.getpid()))
    while not stop.is_set() and time.time() < until:
        stop.wait(min(5.0, max(until - time.time(), 0.01)))
        if load_state(run_dir) is None:  # removed by someone else (gc, down)
            return
    cleanup.destroy(run_dir)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(3)


def main(argv: list[str]) -> int:
    run_dir = Path(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # A SIGTERM before any word from the runner means: clean up now, like a dead runner.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    line = b""
    try:
        line = sys.stdin.buffer.readline()
    except SystemExit:
        line = b""
    words = line.decode(errors="replace").split()
    if words[:1] == ["done"]:
        return 0
    if words[:1] == ["keep"] and len(words) == 2:
        _keep(run_dir, float(words[1]))
        return 0
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    cleanup.destroy(run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
