"""Run ids: ``<stack>-<YYYYmmddTHHMMSS>-<8 hex>``, unique because the run dir is made exclusively.

32 random bits make two runs of one stack in the same second collide about once in four
billion pairs; a collision still never shares a run: the backend creates the run directory
with ``os.mkdir`` (no ``exist_ok``), and a taken id is either retried with a new one or,
when the caller chose it (``up --run-id``), refused.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tempstack.errors import RunIdTaken

if TYPE_CHECKING:
    from tempstack.engine.runner import Engine

RANDOM_BYTES = 4  # 8 hex characters
ATTEMPTS = 8  # new ids tried before giving up (each collision is ~2^-32 likely)


def make_run_id(stack: str) -> str:
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    return f"{stack}-{stamp}-{secrets.token_hex(RANDOM_BYTES)}"


def default_report_dir(root: Path, run_id: str) -> Path:
    """Where a run's reports go unless ``--report-dir`` says otherwise."""
    return (root / ".tempstack" / "reports" / run_id).absolute()


def open_backend(engine: Engine) -> None:
    """Open the run's directory, retrying with a new id if another run holds this one."""
    for _ in range(ATTEMPTS):
        try:
            engine.backend.open(
                engine.run_id, engine.loaded.name, engine.loaded.path, engine.report_dir
            )
            return
        except RunIdTaken:
            if engine.options.run_id is not None:
                engine.refused = True  # never write into the other run's reports
                raise
            engine.run_id = make_run_id(engine.loaded.name)
            if engine.options.report_dir is None:
                with contextlib.suppress(OSError):  # made empty by the writable check
                    engine.report_dir.rmdir()
                engine.report_dir = default_report_dir(engine.loaded.root, engine.run_id)
            engine.journal.run_id, engine.journal.report_dir = engine.run_id, engine.report_dir
    raise RunIdTaken(engine.run_id)
