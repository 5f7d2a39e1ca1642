"""A mock's routes file is checked with the stack: each problem is one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_malformed import assert_nothing_created, run_check

STACK = """[stack]
name = "demo"

[services.github]
kind = "http-mock"
routes = "mocks/github.{ext}"
"""

CASES = {
    "toml_syntax": ("toml", "[[routes]\npath = '/x'\n", "invalid TOML"),
    "json_syntax": ("json", '{"routes": [', "invalid JSON"),
    "not_an_object": ("json", "[1, 2]", 'expected an object {"routes": [...]}'),
    "unknown_top_key": ("toml", "[[route]]\npath = '/x'\n", "route: unknown key"),
    "unknown_route_key": (
        "toml",
        "[[routes]]\npath = '/x'\nrespons = { status = 401 }\n",
        "routes[0].respons: unknown key; valid keys for routes[0]: faults, latency",
    ),
    "route_without_response": (
        "toml",
        "[[routes]]\npath = '/x'\n",
        "routes[0]: a route needs exactly one of 'response'",
    ),
    "second_route_bad_status": (
        "json",
        '{"routes": [{"path": "/a", "response": {}}, '
        '{"path": "/b", "response": {"status": "ok"}}]}',
        "routes[1].response.status: expected an integer, got 'ok'",
    ),
    "bad_sse_event": (
        "toml",
        "[[routes]]\npath = '/events'\nresponse = { sse = [{ event = 'tick' }] }\n",
        "routes[0].response.sse[0]",
    ),
    "unclosed_template": (
        "toml",
        "[[routes]]\npath = '/a'\nresponse.body = 'ok'\n\n"
        "[[routes]]\npath = '/x/{id}'\nresponse.body = 'id {{ path.id '\n",
        "routes[1].response.body: template syntax error: unexpected end of template",
    ),
    "unknown_filter": (
        "json",
        '{"routes": [{"path": "/x", "sequence": [{"status": 500}, '
        '{"headers": {"X-Id": "{{ path.x | nope }}"}}]}]}',
        "routes[0].sequence[1].headers.X-Id: template syntax error: No filter named 'nope'.",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_routes_file_is_one_line_naming_it(case: str, tmp_path: Path) -> None:
    ext, body, expect = CASES[case]
    project = tmp_path / "project"
    (project / "mocks").mkdir(parents=True)
    (project / "tempstack.toml").write_text(STACK.format(ext=ext))
    (project / "mocks" / f"github.{ext}").write_text(body)
    result = run_check(tmp_path, "-f", str(project / "tempstack.toml"))
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 2, output
    assert len(result.lines) == 1, output
    assert result.lines[0].startswith(f"error: {project}/mocks/github.{ext}: "), output
    assert expect in result.lines[0], output
    assert_nothing_created(result)


def test_every_problem_in_a_routes_file_is_reported(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "mocks").mkdir(parents=True)
    (project / "tempstack.toml").write_text(STACK.format(ext="toml"))
    (project / "mocks" / "github.toml").write_text(
        "[[routes]]\npath = 'x'\nresponse = {}\n\n[[routes]]\npath = '/y'\nmethod = 'FETCH'\n"
        "response = {}\n"
    )
    result = run_check(tmp_path, "-f", str(project / "tempstack.toml"))
    assert result.returncode == 2
    keys = sorted(line.split(": ")[2] for line in result.lines)
    assert keys == ["routes[0].path", "routes[1].method"], result.stderr


def test_a_good_routes_file_passes(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "mocks").mkdir(parents=True)
    (project / "tempstack.toml").write_text(STACK.format(ext="toml"))
    (project / "mocks" / "github.toml").write_text(
        "[[routes]]\npath = '/repos/{owner}/{repo}'\n"
        "response = { json = { full_name = '{{ path.owner }}/{{ path.repo }}' } }\n\n"
        "[[routes]]\nmethod = 'POST'\npath = '/charges'\n"
        "sequence = [{ status = 500 }, { status = 201, json = { id = 'ch_1' } }]\n"
    )
    result = run_check(tmp_path, "-f", str(project / "tempstack.toml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_template_error_is_reported_one_line_each(tmp_path: Path) -> None:
    """In a routes file and inline alike, each template that does not compile is a line."""
    project = tmp_path / "project"
    (project / "mocks").mkdir(parents=True)
    (project / "tempstack.toml").write_text(
        STACK.format(ext="toml")
        + """
[services.inline]
kind = "http-mock"
routes = [
  { path = "/a", response = { json = { a = "{{ json.a }}", b = ["{% if x %}"] } } },
  { path = "/b", sequence = [{ sse = ["{{ json |}}", { data = "ok {{ count }}" }] }] },
]
"""
    )
    (project / "mocks" / "github.toml").write_text(
        "[[routes]]\npath = '/s'\nresponse.stream = ['a', \"{{ body\\n + }}\"]\n\n"
        "[[routes]]\npath = '/ok'\nresponse.body = '{{ count }}'\n"
    )
    result = run_check(tmp_path, "-f", str(project / "tempstack.toml"))
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 2, output
    stack, routes = project / "tempstack.toml", project / "mocks" / "github.toml"
    found = sorted(line.split(": template syntax error: ")[0] for line in result.lines)
    [chunk] = [line for line in result.lines if "stream[1]" in line]
    assert chunk.endswith("(line 2)"), output  # the chunk's error is on its second line
    assert found == [
        f"error: {routes}: routes[0].response.stream[1]",
        f"error: {stack}: services.inline.routes[0].response.json.b[0]",
        f"error: {stack}: services.inline.routes[1].sequence[0].sse[0].data",
    ], output
    assert_nothing_created(result)
