"""Fixtures both suites use: the shop's URL and the test users."""

from __future__ import annotations

import pytest
from support import ALICE, BOB, Account, stack_env


@pytest.fixture(scope="session")
def web_url() -> str:
    return stack_env("WEB_URL").rstrip("/")


@pytest.fixture(scope="session")
def alice() -> Account:
    return ALICE


@pytest.fixture(scope="session")
def bob() -> Account:
    return BOB
