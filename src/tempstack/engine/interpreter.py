"""The project's Python: what ``pytest``, ``playwright`` and ``locust`` stages run with.

tempstack is a tool with an environment of its own (``pipx install 'tempstack[tool]'``);
the application's tests belong in the application's environment, with its pins. The first
of these wins:

1. ``[stack] python`` (relative to the stack file's directory);
2. ``VIRTUAL_ENV`` of the caller (an activated environment);
3. ``.venv/bin/python`` beside the stack file;
4. ``poetry env info -p`` where the stack file's directory is a Poetry project;
5. the interpreter tempstack itself runs with.

Its ``bin`` directory goes first on ``PATH`` of every process, job and stage, and
``VIRTUAL_ENV`` is set when it is a virtual environment: what activating it would do, so
``python3 -m alembic`` in a job means the project's alembic.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

POETRY_TIMEOUT = 15.0  # seconds; poetry may first create the environment's cache entry


@dataclass(frozen=True)
class Interpreter:
    path: Path  # as found, not resolved: a virtual environment's python is a symlink
    source: str  # "stack.python", "VIRTUAL_ENV", ".venv", "poetry" or "tempstack"

    @property
    def venv(self) -> Path | None:
        root = self.path.parent.parent
        return root if (root / "pyvenv.cfg").is_file() else None

    def activate(self, environ: Mapping[str, str]) -> dict[str, str]:
        """``environ`` as activating this interpreter's environment would leave it."""
        env = dict(environ)
        bin_dir = str(self.path.parent)
        parts = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p != bin_dir]
        env["PATH"] = os.pathsep.join([bin_dir, *parts])
        if (venv := self.venv) is not None:
            env["VIRTUAL_ENV"] = str(venv)
        return env


def _python_in(env_dir: str | Path) -> Path | None:
    candidate = Path(env_dir) / "bin" / "python"
    return candidate if os.access(candidate, os.X_OK) else None


def _is_poetry_project(root: Path) -> bool:
    if (root / "poetry.lock").is_file():
        return True
    pyproject = root / "pyproject.toml"
    try:
        return "[tool.poetry]" in pyproject.read_text()
    except OSError:
        return False


def _poetry_env(root: Path) -> Path | None:
    poetry = shutil.which("poetry")
    if poetry is None or not _is_poetry_project(root):
        return None
    try:
        done = subprocess.run(
            [poetry, "env", "info", "-p"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=POETRY_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = done.stdout.strip()
    return _python_in(out) if done.returncode == 0 and out else None


def find_interpreter(root: Path, given: str | None, environ: Mapping[str, str]) -> Interpreter:
    """The project's Python for a stack file in ``root`` (``given`` is checked at load)."""
    if given:
        return Interpreter(Path(os.path.join(root, given)), "stack.python")
    if (venv := environ.get("VIRTUAL_ENV")) and (python := _python_in(venv)):
        return Interpreter(python, "VIRTUAL_ENV")
    if python := _python_in(root / ".venv"):
        return Interpreter(python, ".venv")
    if python := _poetry_env(root):
        return Interpreter(python, "poetry")
    return Interpreter(Path(sys.executable), "tempstack")
