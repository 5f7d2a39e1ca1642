"""Which Python a stack's stages run with, and what 'activating' it does to a process's env."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tempstack.engine.interpreter import Interpreter, find_interpreter


def _venv(root: Path) -> Path:
    """The shape of a virtual environment: bin/python and pyvenv.cfg."""
    (root / "bin").mkdir(parents=True)
    python = root / "bin" / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    (root / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return python


def test_the_stack_files_own_python_wins(tmp_path: Path) -> None:
    _venv(tmp_path / ".venv")
    found = find_interpreter(tmp_path, "tools/py", {"VIRTUAL_ENV": str(tmp_path / ".venv")})
    assert found == Interpreter(tmp_path / "tools" / "py", "stack.python")


def test_an_activated_environment_comes_before_dot_venv(tmp_path: Path) -> None:
    active = _venv(tmp_path / "active")
    _venv(tmp_path / "project" / ".venv")
    found = find_interpreter(tmp_path / "project", None, {"VIRTUAL_ENV": str(tmp_path / "active")})
    assert found == Interpreter(active, "VIRTUAL_ENV")


def test_dot_venv_beside_the_stack_file(tmp_path: Path) -> None:
    python = _venv(tmp_path / ".venv")
    # a VIRTUAL_ENV that holds no python (a stale variable) is passed over
    found = find_interpreter(tmp_path, None, {"VIRTUAL_ENV": str(tmp_path / "gone")})
    assert found == Interpreter(python, ".venv")
    assert found.venv == tmp_path / ".venv"


def test_poetry_is_asked_only_in_a_poetry_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_dir = tmp_path / "poetry-env"
    python = _venv(env_dir)
    tools = tmp_path / "tools"
    tools.mkdir()
    poetry = tools / "poetry"  # answers as `poetry env info -p` does
    poetry.write_text(f'#!/bin/sh\n[ "$*" = "env info -p" ] && echo {env_dir}\n')
    poetry.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    project = tmp_path / "project"
    project.mkdir()
    assert find_interpreter(project, None, {}).source == "tempstack"
    (project / "pyproject.toml").write_text('[tool.poetry]\nname = "app"\n')
    assert find_interpreter(project, None, {}) == Interpreter(python, "poetry")


def test_without_a_project_environment_tempstacks_own(tmp_path: Path) -> None:
    assert find_interpreter(tmp_path, None, {}) == Interpreter(Path(sys.executable), "tempstack")


def test_activate_puts_bin_first_once_and_sets_virtual_env(tmp_path: Path) -> None:
    python = _venv(tmp_path / "env")
    bin_dir = str(python.parent)
    env = Interpreter(python, ".venv").activate({"PATH": f"/usr/bin:{bin_dir}:/bin", "A": "1"})
    venv = str(python.parents[1])
    assert env == {"PATH": f"{bin_dir}:/usr/bin:/bin", "A": "1", "VIRTUAL_ENV": venv}
    # not a virtual environment (a system python): PATH only
    plain = Interpreter(Path("/usr/bin/python3"), "stack.python").activate({"PATH": "/bin"})
    assert plain == {"PATH": "/usr/bin:/bin"}
