"""Shared fixtures: an isolated TEMPSTACK_HOME for the whole session, and stack files."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_HOME = Path(
    tempfile.mkdtemp(
        prefix="tempstack-tests-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    )
)
os.environ["TEMPSTACK_HOME"] = str(_HOME)
# Ports for tests come from their own range, so a developer's live runs never interfere.
os.environ.setdefault("TEMPSTACK_PORT_RANGE", "16000-19999")


@pytest.fixture(scope="session")
def tempstack_home() -> Iterator[Path]:
    yield _HOME


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture
def write_stack(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(text: str, name: str = "tempstack.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
