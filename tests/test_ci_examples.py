"""The CI examples in docs/ci stay true: they run a stack file that loads, upload the report
directory they told tempstack to write, and install what the README's setup installs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

import tempstack

ROOT = Path(__file__).parent.parent
CI = ROOT / "docs" / "ci"
PACKAGES = {"postgresql", "redis-server", "chromium", "ffmpeg"}


def _lines(node: Any) -> list[str]:
    if isinstance(node, str):
        return node.splitlines()
    if isinstance(node, list):
        return [line for item in node for line in _lines(item)]
    if isinstance(node, dict):
        return [line for value in node.values() for line in _lines(value)]
    return []


def _check_commands(lines: list[str], report_dir: str) -> None:
    runs = [shlex.split(line.strip()) for line in lines if line.strip().startswith("tempstack run")]
    assert len(runs) == 1, lines
    argv = runs[0]
    stack_file = argv[argv.index("-f") + 1]
    tempstack.Stack.load(ROOT / stack_file)  # raises on a stack file that does not load
    assert argv[argv.index("--report-dir") + 1] in ('"$REPORT_DIR"', "$REPORT_DIR")
    installs = [line for line in lines if "apt-get install" in line]
    assert installs and set(installs[0].split()) >= PACKAGES, installs
    readme = (ROOT / "README.md").read_text()
    assert all(p in readme for p in PACKAGES)
    assert report_dir == "tempstack-report"


def test_github_actions_example() -> None:
    flow = yaml.safe_load((CI / "github-actions.yml").read_text())
    job = flow["jobs"]["e2e"]
    steps = job["steps"]
    _check_commands(
        [line for s in steps for line in _lines(s.get("run", ""))], job["env"]["REPORT_DIR"]
    )
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "${{ env.REPORT_DIR }}"
    script = next(s for s in steps if s.get("uses", "").startswith("actions/github-script"))
    assert "summary.md" in script["with"]["script"]


def test_gitlab_ci_example() -> None:
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["e2e"]
    report_dir = job["variables"]["REPORT_DIR"]
    _check_commands(_lines(job["before_script"]) + _lines(job["script"]), report_dir)
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["paths"] == [f"{report_dir}/"]
    assert job["artifacts"]["reports"]["junit"] == f"{report_dir}/junit.xml"
    assert re.search(r"body@\$REPORT_DIR/summary\.md", "\n".join(_lines(job["after_script"])))
