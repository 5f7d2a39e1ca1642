"""Small file helpers shared by the local backend and the kinds: locks and atomic writes."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``, safe across processes; released on close."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_json(path: Path, data: Any, mode: int = 0o600) -> None:
    """Write JSON so that a reader never sees a half-written file.

    Private by default: state files and server configs hold a run's secrets. Reports, which
    are masked, pass 0o644.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


#: written into each directory a run creates outside its own (and into the run's own, first
#: of all), holding the run id: what gc and down check before removing a directory
MARKER_FILE = ".tempstack-run"


def mark(path: Path, run_id: str) -> None:
    fd = os.open(path / MARKER_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(run_id)


def marked(path: Path, run_id: str | None = None) -> bool:
    """``path`` is a real directory holding our marker (with ``run_id``, when given),
    written by this user."""
    try:
        if path.is_symlink() or not path.is_dir():
            return False
        marker = path / MARKER_FILE
        st = os.lstat(marker)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            return False
        return run_id is None or marker.read_text().strip() == run_id
    except OSError:
        return False


TAIL_BYTES = 256 * 1024
LINE_LIMIT = 2000
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # all but tab and newline


def clean_text(text: str) -> str:
    """Text fit for every report: colour codes and control characters removed.

    Tools colour their output (``--color=yes``, ``FORCE_COLOR`` in CI); the escapes are
    noise in Markdown and HTML and make XML ill-formed.
    """
    return _CONTROL.sub("", _ANSI.sub("", text))


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a text file, cleaned and each cut at 2000 characters.

    Reads at most the last 256 KiB, so a log of one endless line (progress bars redrawn
    with ``\\r``) costs no more than a normal one.
    """
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - TAIL_BYTES))
            data = fh.read()
    except FileNotFoundError:
        return []
    text = clean_text(data.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n"))
    out = [
        line if len(line) <= LINE_LIMIT else line[:LINE_LIMIT] + " … (line cut)"
        for line in text.splitlines()
    ]
    return out[-lines:] if lines > 0 else []


LOG_COPY_LIMIT = 8 * 1024 * 1024


def copy_log(source: Path, target: Path, limit: int = LOG_COPY_LIMIT) -> Path:
    """Copy a log, keeping only its last ``limit`` bytes (the end is what explains a run)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, target.open("wb") as dst:
        size = src.seek(0, os.SEEK_END)
        if size > limit:
            src.seek(size - limit)
            src.readline()  # start at a line boundary
            dst.write(b"[... earlier output cut ...]\n")
        else:
            src.seek(0)
        shutil.copyfileobj(src, dst)
    return target
