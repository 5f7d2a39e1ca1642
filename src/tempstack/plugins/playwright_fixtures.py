"""The fixtures that :mod:`tempstack.plugins.playwright` registers, at module level.

pytest-playwright documents overriding ``browser_type_launch_args`` with a fixture of the
same name that asks for the original. pytest 9.2 deprecates session fixtures defined as
methods of a plugin object, so the override lives here as a plain module-level fixture; the
plugin registers this module once pytest-playwright's entry point is loaded, which is what
makes it wrap pytest-playwright's fixture (and a project's conftest override still wraps it).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tempstack.plugins import CLUSTER_HOSTS_VAR, EXECUTABLE_VAR

QUIET_FLAGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-sync",
]


def launch_args(
    base: dict[str, Any], executable: str | None, as_root: bool, cluster_hosts: str = ""
) -> dict[str, Any]:
    args = list(base.get("args", []))
    flags = QUIET_FLAGS + (["--no-sandbox"] if as_root else [])
    args += [f for f in flags if f not in args]
    hosts = [h for h in cluster_hosts.split(",") if h]
    if hosts:  # a redirect to http://auth:PORT/ (in-cluster) reaches the forward here
        args.append("--host-resolver-rules=" + ", ".join(f"MAP {h} 127.0.0.1" for h in hosts))
    extra: dict[str, Any] = {"args": args}
    if executable:
        extra["executable_path"] = executable
    return {**base, **extra}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return launch_args(
        browser_type_launch_args,
        os.environ.get(EXECUTABLE_VAR),
        os.geteuid() == 0,
        os.environ.get(CLUSTER_HOSTS_VAR, ""),
    )
