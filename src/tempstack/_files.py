"""Small file helpers shared by the local backend and the kinds: locks and atomic writes."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
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


def write_json(path: Path, data: Any) -> None:
    """Write JSON so that a reader never sees a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a text file, read from the end (logs can be large)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            block, data = 8192, b""
            while size > 0 and data.count(b"\n") <= lines:
                step = min(block, size)
                size -= step
                fh.seek(size)
                data = fh.read(step) + data
    except FileNotFoundError:
        return []
    text = data.decode(errors="replace").splitlines()
    return text[-lines:] if lines > 0 else []


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
