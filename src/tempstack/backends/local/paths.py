"""Where tempstack keeps runs, the port registry and caches on this machine.

``TEMPSTACK_HOME`` chooses; by default it lives on tmpfs (``/dev/shm``) when there is one,
because everything in a run is thrown away and tmpfs makes PostgreSQL start faster.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def home() -> Path:
    if env := os.environ.get("TEMPSTACK_HOME"):
        path = Path(env)
    elif os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        path = Path("/dev/shm") / f"tempstack-{os.geteuid()}"
    else:
        path = Path(tempfile.gettempdir()) / f"tempstack-{os.geteuid()}"
    path.mkdir(parents=True, exist_ok=True, mode=0o755)
    if os.geteuid() == 0 and (path.stat().st_mode & 0o011) != 0o011:
        # As root, servers run as an unprivileged user who must be able to reach their data.
        path.chmod(path.stat().st_mode | 0o711)
    return path


def runs_dir() -> Path:
    path = home() / "runs"
    path.mkdir(exist_ok=True, mode=0o755)
    return path


def cache_dir() -> Path:
    path = home() / "cache"
    path.mkdir(exist_ok=True, mode=0o755)
    return path


def ports_dir() -> Path:
    path = home() / "ports"
    path.mkdir(exist_ok=True, mode=0o755)
    return path
