"""A pytest plugin loaded into ``playwright`` stages (``-p tempstack.plugins.playwright``).

pytest-playwright has no option for a browser executable, and Playwright's own browser
download is not an option on closed machines, so this extends its
``browser_type_launch_args`` fixture (see :mod:`tempstack.plugins.playwright_fixtures`): the
executable from ``TEMPSTACK_BROWSER_EXECUTABLE`` and flags that keep Chromium off the
network (as root it also needs ``--no-sandbox``); on a cluster, the services' names resolve
to 127.0.0.1, where each has its forward.

``-p`` plugins load before entry-point plugins, and among plugins the fixture registered
last wins, so the fixtures module is registered in ``pytest_configure``, after
pytest-playwright's entry point.
"""

from __future__ import annotations

import pytest

from tempstack.plugins import playwright_fixtures

NAME = "tempstack-playwright-fixtures"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(NAME):
        config.pluginmanager.register(playwright_fixtures, NAME)
