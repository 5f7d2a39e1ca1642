"""A project whose own virtual environment holds only tempstack's core (the pytest plugin and
test helpers): the tool, in its environment, runs the project's stages with the project's
Python, and installs nothing of its own into it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: what must stay out of a project's environment: the servers' and the engine's dependencies
TOOL_ONLY = ["moto", "flask", "aiohttp", "authlib", "aiosmtpd", "click", "pydantic", "psutil"]

STACK = """
[stack]
name = "app"
python = "venv/bin/python"

[services.api]
kind = "http-mock"
routes = [{ method = "GET", path = "/ping", response = { json = { pong = true } } }]

[services.where]
kind = "job"
command = "python3 -c 'import sys; print(sys.prefix)' > job-prefix.txt"

[stages.tests]
kind = "pytest"
args = ["-q", "test_app.py"]
"""

TEST = """
import importlib.util, json, os, sys

import httpx
from tempstack.testing import assert_eventually


def test_runs_in_the_projects_environment(pytestconfig, tempstack_run):
    assert pytestconfig.pluginmanager.has_plugin("tempstack")  # the core's entry point
    # the plugin's fixture reads the run's state file here, without the tool's dependencies
    assert tempstack_run.service("api").url == os.environ["API_URL"]
    seen = {m: importlib.util.find_spec(m) is not None for m in %(tool_only)r}
    with open("seen.json", "w") as f:
        json.dump({"prefix": sys.prefix, "tool_only": seen}, f)
    assert_eventually(lambda: httpx.get(os.environ["API_URL"] + "/ping").json() == {"pong": True})
"""


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_project_venv_with_only_the_core(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    system_python = Path(sys.base_prefix) / "bin" / "python3"  # Debian's, in CI
    subprocess.run([str(system_python), "-m", "venv", str(project / "venv")], check=True)
    python = project / "venv" / "bin" / "python"
    _pip(python, "pytest", str(ROOT))  # tempstack's core, built from this checkout
    (project / "tempstack.toml").write_text(STACK)
    (project / "test_app.py").write_text(TEST % {"tool_only": TOOL_ONLY})

    done = cli("run", "-f", str(project / "tempstack.toml"), cwd=project, timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads((project / "seen.json").read_text())
    assert Path(seen["prefix"]) == project / "venv"
    assert seen["tool_only"] == dict.fromkeys(TOOL_ONLY, False)
    # a job's `python3` is the project's too: its bin comes first on PATH
    assert Path((project / "job-prefix.txt").read_text().strip()) == project / "venv"
    # the core's command says what it lacks instead of failing on an import
    bare = subprocess.run(
        [str(project / "venv" / "bin" / "tempstack"), "ps"], capture_output=True, text=True
    )
    assert bare.returncode == 2
    assert "pipx install 'tempstack[tool]'" in bare.stderr and "Traceback" not in bare.stderr
    # pytest --tempstack in that environment says how to get a stack instead of an ImportError
    alone = subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "--tempstack", "test_app.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert alone.returncode == 4, alone.stdout + alone.stderr
    assert "--tempstack-run ID" in alone.stderr and "Traceback" not in alone.stderr
    # a stack the tool started, attached to from the project's environment
    up = cli("up", "-f", str(project / "tempstack.toml"), "--detach", cwd=project)
    assert up.returncode == 0, up.stdout + up.stderr
    run_id = up.stdout.strip().splitlines()[-1]
    try:
        attach = ["-p", "no:cacheprovider", "--tempstack-run", run_id, "test_app.py"]
        attached = subprocess.run(
            [str(python), "-m", "pytest", *attach],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert attached.returncode == 0, attached.stdout + attached.stderr
    finally:
        down = cli("down", run_id)
        assert down.returncode == 0, down.stdout + down.stderr


BROWSER_STACK = """
[stack]
name = "site"
python = "venv/bin/python"

[services.site]
kind = "http-mock"
[[services.site.routes]]
path = "/"
response = { headers = { content-type = "text/html" }, body = "<title>ours</title>" }

[stages.browser]
kind = "playwright"
args = ["-q", "test_site.py"]
"""

BROWSER_TEST = """
import os


def test_the_page(page):
    page.goto(os.environ["SITE_URL"] + "/")
    assert page.title() == "ours"
"""


def test_a_playwright_stage_in_a_project_venv_without_tempstack(tmp_path: Path) -> None:
    """Nothing of tempstack in the project's environment: the plugin that points Playwright
    at Debian's Chromium is still loaded (Playwright's own browser was never downloaded)."""
    project = tmp_path / "project"
    project.mkdir()
    system_python = Path(sys.base_prefix) / "bin" / "python3"
    subprocess.run([str(system_python), "-m", "venv", str(project / "venv")], check=True)
    python = project / "venv" / "bin" / "python"
    _pip(python, "pytest", "pytest-playwright", "pytest-base-url")
    (project / "tempstack.toml").write_text(BROWSER_STACK)
    (project / "test_site.py").write_text(BROWSER_TEST)

    done = cli("run", "-f", str(project / "tempstack.toml"), cwd=project, timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    has = [str(python), "-c", "import importlib.util as u; print(u.find_spec('tempstack'))"]
    assert subprocess.run(has, capture_output=True, text=True).stdout.strip() == "None"
