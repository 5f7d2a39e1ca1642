"""Names and labels of what a run creates in a cluster.

Every object carries the run label, so a run's objects can be found (and only tempstack's
ever deleted); the namespace also carries the stack, the owner and an expiry that ``gc``
reads, because a namespace outlives a process that was killed.
"""

from __future__ import annotations

import getpass
import hashlib
import re
import socket

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "tempstack"
RUN = "tempstack.dev/run"
STACK = "tempstack.dev/stack"
OWNER = "tempstack.dev/owner"
HOST = "tempstack.dev/host"
EXPIRES = "tempstack.dev/expires"  # unix seconds
SERVICE = "tempstack.dev/service"
STAGE = "tempstack.dev/stage"

#: what ``gc`` selects on: nothing without both labels is ever deleted
SELECTOR = f"{MANAGED_BY}={MANAGER},{RUN}"

_MAX = 63


def _dns_label(text: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return label or "x"


def label_value(text: str) -> str:
    """A valid label value: 63 characters of ``[A-Za-z0-9._-]``, alphanumeric at both ends."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:_MAX]
    return value.strip("-_.") or "x"


def shortened(name: str, limit: int = _MAX, key: str | None = None) -> str:
    """``name`` cut to ``limit`` characters, its end replaced by a digest of ``key`` (the
    name itself by default) so that two long names stay apart."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256((key or name).encode()).hexdigest()[:6]
    return f"{name[: limit - 7].rstrip('-')}-{digest}"


def namespace(run_id: str) -> str:
    """``ts-<run id>``, shortened from the stack's end when the run id is long."""
    return shortened(_dns_label(f"ts-{run_id}"), key=run_id)


def object_name(service: str) -> str:
    """A service's name as a DNS label; also the host name pods reach it by."""
    name = _dns_label(service)
    if name[0].isdigit():
        name = f"s-{name}"
    return name[:_MAX].rstrip("-")


def owner() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return label_value(user)


def this_host() -> str:
    return label_value(socket.gethostname())
