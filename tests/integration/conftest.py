"""Every integration test ends with a leak check: no process of this session's runs left."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from .helpers import CHROMIUM, CHROMIUM_ARGS, home, states, tagged


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright, one per test module."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(autouse=True)
def no_survivors() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (tagged() or states()):
        time.sleep(0.05)
    left, runs = tagged(), states()
    assert not left, f"processes still carry a run id of this session: {left}"
    assert not runs, f"run directories left in {home()}: {[r['run_id'] for r in runs]}"
