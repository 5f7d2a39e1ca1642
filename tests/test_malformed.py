"""Every malformed stack file is rejected by the real CLI with one precise line per problem.

Each file in ``tests/malformed/`` holds exactly one mistake and starts with
``# expect: <text>``, a substring the error output must contain (normally the dotted key).
``tempstack check`` must exit 2, print only ``error: <file>: ...`` lines, never a traceback,
and create nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "malformed"
FILES = sorted(CORPUS.glob("*.toml"))
UNSET_VAR = "TEMPSTACK_TEST_SURELY_UNSET_VARIABLE"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    home: Path
    cwd: Path

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_check(
    tmp_path: Path, *args: str, cwd: Path | None = None, columns: int | None = 4000
) -> Result:
    """``python -m tempstack.cli check ARGS`` with a private TEMPSTACK_HOME.

    ``columns`` pins the console width so the outer terminal cannot change the output
    (``test_error_lines_are_not_wrapped_at_default_width`` checks the default width).
    """
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    if cwd is None:
        cwd = tmp_path / "cwd"
        cwd.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPSTACK_")}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env["TEMPSTACK_HOME"] = str(home)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    proc = subprocess.run(
        [sys.executable, "-m", "tempstack.cli", "check", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, home, cwd)


def expected_text(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: ...'"
    text = first.removeprefix("# expect: ").strip()
    assert text, f"{path.name}: empty '# expect:'"
    return text


def assert_nothing_created(result: Result) -> None:
    runs = result.home / "runs"
    assert not runs.exists() or not any(runs.iterdir()), (
        f"runs were created: {list(runs.iterdir())}"
    )
    assert not any(result.cwd.iterdir()), f"files created in cwd: {list(result.cwd.iterdir())}"


def assert_rejected(result: Result, shown: str) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 2, output
    assert result.lines, "no error printed"
    for line in result.lines:
        assert line.startswith(f"error: {shown}: "), f"not an error line naming {shown}: {line!r}"
    assert_nothing_created(result)


def test_corpus_is_large_enough() -> None:
    assert len(FILES) >= 30, f"only {len(FILES)} malformed files"


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.stem) for p in FILES],
)
def test_malformed_file_is_rejected(path: Path, tmp_path: Path) -> None:
    expect = expected_text(path)
    started = time.monotonic()
    result = run_check(tmp_path, "-f", str(path))
    assert time.monotonic() - started < 20, "check took 20 s or more"
    assert_rejected(result, str(path))
    assert expect in result.stderr, f"{expect!r} not in:\n{result.stderr}"
    assert len(result.lines) == 1, f"one problem, several lines:\n{result.stderr}"


def test_three_problems_are_all_reported(tmp_path: Path) -> None:
    stack = tmp_path / "tempstack.toml"
    stack.write_text(
        "[stack]\n"
        'name = "bad name"\n'
        "\n"
        "[services.api]\n"
        'command = "python -m http.server"\n'
        'restart = "always"\n'
        "\n"
        "[stages.test]\n"
        'run = "pytest"\n'
        "retries = 3\n"
    )
    result = run_check(tmp_path, "-f", str(stack))
    assert_rejected(result, str(stack))
    assert len(result.lines) == 3, result.stderr
    keys = ["stack.name", "services.api.restart", "stages.test.retries"]
    for key in keys:
        matching = [line for line in result.lines if f": {key}: " in line]
        assert len(matching) == 1, f"{key}: {result.stderr}"


def test_cross_checks_report_every_problem(tmp_path: Path) -> None:
    """Dependency, reference and env_file problems found in one pass, one line each."""
    stack = tmp_path / "tempstack.toml"
    stack.write_text(
        "[stack]\n"
        'name = "demo"\n'
        "\n"
        "[services.db]\n"
        'kind = "postgres"\n'
        "\n"
        "[services.api]\n"
        'command = "python -m http.server"\n'
        'depends_on = ["cache"]\n'
        'env = { DATABASE_URL = "${db.uri}" }\n'
        'env_file = "missing.env"\n'
    )
    result = run_check(tmp_path, "-f", str(stack))
    assert_rejected(result, str(stack))
    assert len(result.lines) == 3, result.stderr
    for key in (
        "services.api.depends_on.cache",
        "services.api.env.DATABASE_URL",
        "services.api.env_file",
    ):
        assert sum(f": {key}: " in line for line in result.lines) == 1, result.stderr


def test_pyproject_keys_are_prefixed(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        "[project]\n"
        'name = "someapp"\n'
        "\n"
        "[tool.tempstack.stack]\n"
        'name = "demo"\n'
        "\n"
        "[tool.tempstack.services.api]\n"
        'command = "python -m http.server"\n'
        'restart = "always"\n'
    )
    # Found without -f: there is no tempstack.toml, so [tool.tempstack] is used.
    result = run_check(tmp_path, cwd=project)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 2, output
    assert result.lines == [
        line for line in result.lines if line.startswith("error: pyproject.toml: ")
    ], output
    assert len(result.lines) == 1, output
    assert "tool.tempstack.services.api.restart: unknown key" in result.stderr
    runs = result.home / "runs"
    assert not runs.exists() or not any(runs.iterdir())
    assert sorted(p.name for p in project.iterdir()) == ["pyproject.toml"]


def test_error_lines_are_not_wrapped_at_default_width(tmp_path: Path) -> None:
    path = CORPUS / "unknown_service_key.toml"
    result = run_check(tmp_path, "-f", str(path), columns=None)
    assert result.returncode == 2
    assert len(result.lines) == 1, result.stderr
    assert result.lines[0].startswith(f"error: {path}: ")


HEADER = '[stack]\nname = "demo"\n\n'
HUGE = {
    # a value of several MB: refused (over the exec per-string limit) and not echoed whole
    "env_value_5mb": (
        "services.api.env.BIG",
        '[services.api]\ncommand = "true"\nenv = { BIG = "' + "x" * 5_000_000 + '" }\n',
    ),
    "stack_name_5mb": ("stack.name", None),
    "nested_arrays_10000": (
        "services.api.env",
        '[services.api]\ncommand = "true"\nenv = { X = ' + "[" * 10_000 + "]" * 10_000 + " }\n",
    ),
    "nested_tables_5000": (
        "services.api.env",
        '[services.api]\ncommand = "true"\nenv = ' + "{ a = " * 5_000 + "1" + " }" * 5_000 + "\n",
    ),
    "nested_arrays_100": (
        "services.api.command",
        "[services.api]\ncommand = " + "[" * 100 + "]" * 100 + "\n",
    ),
}


@pytest.mark.parametrize("case", sorted(HUGE))
def test_huge_input_is_one_short_line(case: str, tmp_path: Path) -> None:
    """Made at run time: megabyte values and deep nesting give one line, no traceback."""
    key, body = HUGE[case]
    stack = tmp_path / "tempstack.toml"
    if body is None:  # a 5 MB stack name
        stack.write_text('[stack]\nname = "' + "n" * 5_000_000 + '"\n')
    else:
        stack.write_text(HEADER + body)
    started = time.monotonic()
    result = run_check(tmp_path, "-f", str(stack))
    assert time.monotonic() - started < 20
    assert_rejected(result, str(stack))
    assert len(result.lines) == 1, result.stderr[:2000]
    assert f": {key}" in result.lines[0], result.lines[0][:2000]
    assert len(result.lines[0]) < 1500, f"a long value echoed: {len(result.lines[0])} chars"


def test_newline_in_a_key_does_not_split_the_line(tmp_path: Path) -> None:
    stack = tmp_path / "tempstack.toml"
    stack.write_text(HEADER + '[services.api]\ncommand = "true"\nenv = { "A\\nB=C" = "x" }\n')
    result = run_check(tmp_path, "-f", str(stack))
    assert_rejected(result, str(stack))
    assert len(result.lines) == 1, result.stderr
    assert "services.api.env.A\\nB=C" in result.lines[0], result.stderr


def test_routes_file_that_is_not_one_names_the_stack_key(tmp_path: Path) -> None:
    """``routes = "/etc/passwd"``: the line names the stack file and the key it came from."""
    stack = tmp_path / "tempstack.toml"
    stack.write_text(HEADER + '[services.mock]\nkind = "http-mock"\nroutes = "/etc/passwd"\n')
    result = run_check(tmp_path, "-f", str(stack))
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 2, output
    assert len(result.lines) == 1, output
    line = result.lines[0]
    assert line.startswith("error: /etc/passwd: "), line
    assert f"services.mock.routes in {stack}" in line, line
