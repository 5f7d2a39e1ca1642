"""``up --detach``: the caller waits for its supervisor's run to be ready, then returns."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tempstack._files import tail
from tempstack.backends.local.state import load_state
from tempstack.errors import EXIT_START_FAILED
from tempstack.report.console import err, print_endpoints, write_line


def await_detached(
    proc: subprocess.Popen[bytes], state_path: Path, log_path: Path, run_id: str
) -> None:
    """Wait for the supervisor to report ready (its own state, never another run's) or exit."""
    interval = 0.005
    while True:
        state = load_state(state_path)
        status = state.get("status") if state else None
        code = proc.poll()
        ours = state is not None and (state.get("supervisor") or {}).get("pid") == proc.pid
        if status == "ready" and ours and state is not None:  # never another run's endpoints
            print_endpoints(state.get("exports", {}), state.get("env", {}), run_id)
            err.print(
                f"detached: supervisor pid {proc.pid}; stop with 'tempstack down {run_id}'",
                markup=False,
            )
            write_line(run_id)
            log_path.unlink(missing_ok=True)
            return
        if code is not None:
            lines = tail(log_path, 40)
            for line in lines:
                err.print(line, markup=False)
            log_path.unlink(missing_ok=True)
            sys.exit(code or EXIT_START_FAILED)
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)
