"""A pytest plugin loaded into ``playwright`` stages (``-p tempstack.stages.playwright_plugin``).

pytest-playwright has no option for a browser executable, and Playwright's own browser
download is not an option on closed machines, so this extends its
``browser_type_launch_args`` fixture: the executable from ``TEMPSTACK_BROWSER_EXECUTABLE``
and flags that keep Chromium off the network (as root it also needs ``--no-sandbox``); on
a cluster, the services' names resolve to 127.0.0.1, where each has its forward.
The fixture is registered in ``pytest_configure``, after pytest-playwright's entry point, so
it wraps that fixture, and a project's own conftest override still wraps this one.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tempstack.services.base import CLUSTER_HOSTS_VAR
from tempstack.stages.playwright import EXECUTABLE_VAR

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


class _Fixtures:
    @pytest.fixture(scope="session")
    def browser_type_launch_args(self, browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
        return launch_args(
            browser_type_launch_args,
            os.environ.get(EXECUTABLE_VAR),
            os.geteuid() == 0,
            os.environ.get(CLUSTER_HOSTS_VAR, ""),
        )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Fixtures(), "tempstack-playwright-fixtures")
