"""An unprivileged user for servers that refuse to run as root (PostgreSQL).

When tempstack runs as root it runs such servers as the system user ``tempstack``
(override with ``TEMPSTACK_USER``), creating it with ``useradd --system`` if needed.
"""

from __future__ import annotations

import os
import pwd
import subprocess

from tempstack.errors import StartError

DEFAULT_USER = "tempstack"


def unprivileged_user(service: str) -> str | None:
    """None when we are not root (servers run as us); else a user name that exists."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("TEMPSTACK_USER", DEFAULT_USER)
    try:
        pwd.getpwnam(name)
        return name
    except KeyError:
        pass
    done = subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            "tempstack services",
            name,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:  # another tempstack may have created it in the same instant
        pwd.getpwnam(name)
    except KeyError:
        raise StartError(
            f"{service}: running as root, PostgreSQL needs an unprivileged user, and "
            f"'useradd {name}' failed: {done.stderr.strip()}; create the user or set "
            "TEMPSTACK_USER to an existing one",
            service=service,
        ) from None
    return name


def ids(user: str | None) -> tuple[int, int] | None:
    if user is None:
        return None
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid
