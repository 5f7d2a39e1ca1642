"""Where tempstack keeps runs, the port registry and caches on this machine.

``TEMPSTACK_HOME`` chooses; by default it lives on tmpfs (``/dev/shm``) when there is one,
because everything in a run is thrown away and tmpfs makes PostgreSQL start faster.

What is in the home is trusted (state files name processes to kill and directories to
remove), and ``/dev/shm`` is writable by every user, so each directory here is created
with ``mkdir`` (which never follows a planted symlink) or, when it exists, accepted only if
it is a real directory owned by this user that nobody else can write. It is private: 0700,
or 0711 as root, where PostgreSQL runs as an unprivileged user that must walk down to its
data (it can enter, not list; each run's directory is private again).
"""

from __future__ import annotations

import os
import pwd
import stat
import tempfile
from pathlib import Path

from tempstack.errors import UsageError


def private_mode() -> int:
    """The mode of the directories that lead to a run's data."""
    return 0o711 if os.geteuid() == 0 else 0o700


def _owner(uid: int) -> str:
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid {uid}"


def unsafe(path: Path, st: os.stat_result) -> str | None:
    """Why ``path`` (lstat'ed as ``st``) cannot be trusted as ours, or None."""
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a directory"
    if st.st_uid != os.geteuid():
        return f"is owned by {_owner(st.st_uid)}, not by you ({_owner(os.geteuid())})"
    if st.st_mode & 0o022:
        return f"is writable by others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def secure_dir(path: Path, mode: int, what: str = "tempstack's home") -> Path:
    """``path`` as a private directory of ours: made now, or checked and tightened."""
    try:
        os.mkdir(path, mode)
        os.chmod(path, mode)  # mkdir's mode is cut by the umask
        return path
    except FileExistsError:
        pass
    st = os.lstat(path)
    if problem := unsafe(path, st):
        raise UsageError(
            f"{path} ({what}) {problem}: tempstack trusts what it finds there; remove it, "
            "or set TEMPSTACK_HOME to a directory of your own that only you can write"
        )
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)
    return path


def home() -> Path:
    if env := os.environ.get("TEMPSTACK_HOME"):
        path = Path(env)
        path.parent.mkdir(parents=True, exist_ok=True)
    elif os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        path = Path("/dev/shm") / f"tempstack-{os.geteuid()}"
    else:
        path = Path(tempfile.gettempdir()) / f"tempstack-{os.geteuid()}"
    return secure_dir(path, private_mode())


def runs_dir() -> Path:
    return secure_dir(home() / "runs", private_mode(), "tempstack's runs")


def cache_dir() -> Path:
    return secure_dir(home() / "cache", private_mode(), "tempstack's cache")


def ports_dir() -> Path:
    return secure_dir(home() / "ports", 0o700, "tempstack's port leases")
