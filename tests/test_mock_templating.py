"""Response templates and the SSE wire format, without a server."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from tempstack.servers.mock import templating
from tempstack.servers.mock.prepared import prepare, template_problems
from tempstack.servers.mock.responses import format_event, render
from tempstack.servers.mock.templating import TemplateError
from tempstack.spec.routes import MockResponse, MockRoute, SseEvent

CTX: dict[str, Any] = {
    "path": {"id": "42"},
    "json": {"n": 3, "tags": ["a", "b"], "user": {"name": "ana"}},
    "headers": CIMultiDictProxy(CIMultiDict({"X-Id": "h1"})),
    "count": 2,
}


def test_text_without_markers_is_a_literal() -> None:
    assert isinstance(templating.text("plain {text}", "t"), templating.Literal)
    assert templating.text("id={{ path.id }} call={{ count }}", "t").render(CTX) == "id=42 call=2"


def test_a_json_leaf_that_is_one_expression_keeps_its_type() -> None:
    value = {
        "id": "{{ path.id | int }}",
        "n": "{{ json.n + 1 }}",
        "tags": "{{ json.tags }}",
        "user": "{{ json.user }}",
        "label": "#{{ path.id }}",  # text around it: a string
        "two": "{{ path.id }}{{ count }}",  # two expressions: a string
        "headers": "{{ headers }}",  # a multidict becomes an object
        "fixed": [1, None, True],
    }
    assert templating.json_value(value, "r").render(CTX) == {
        "id": 42,
        "n": 4,
        "tags": ["a", "b"],
        "user": {"name": "ana"},
        "label": "#42",
        "two": "422",
        "headers": {"X-Id": "h1"},
        "fixed": [1, None, True],
    }


@pytest.mark.parametrize(
    ("source", "where", "problem"),
    [
        (
            "{{ path.idd }}",
            "r.json.a",
            "undefined in template: 'dict object' has no attribute 'idd'",
        ),
        ("x {{ nope }}", "r.json.a", "undefined in template: 'nope' is undefined"),
        ("{{ path.__class__ }}", "r.json.a", "template failed: SecurityError"),
    ],
)
def test_render_errors_name_the_template(source: str, where: str, problem: str) -> None:
    with pytest.raises(TemplateError) as caught:
        templating.json_value({"a": source}, "r.json").render(CTX)
    assert caught.value.where == where
    assert caught.value.problem.startswith(problem)


def test_syntax_errors_are_found_when_compiling() -> None:
    with pytest.raises(TemplateError, match=r"^r\.body: template syntax error: .* \(line 1\)"):
        templating.text("{{ oops", "r.body")


def test_render_a_json_response_with_templated_headers() -> None:
    spec = MockResponse.model_validate(
        {"status": 201, "headers": {"Location": "/items/{{ path.id }}"}, "json": {"ok": True}}
    )
    rendered = render(prepare(spec, "route x: response"), CTX)
    assert rendered.status == 201
    assert rendered.headers["Location"] == "/items/42"
    assert rendered.headers["Content-Type"] == "application/json"
    assert rendered.body == b'{"ok": true}'


@pytest.mark.parametrize("value", ["/next\r\nSet-Cookie: a=1", "x\ny", "x\r"])
def test_a_rendered_line_break_in_a_header_is_a_template_error(value: str) -> None:
    spec = MockResponse.model_validate(
        {"status": 302, "headers": {"Location": "{{ query.next }}"}, "body": "moved"}
    )
    prepared = prepare(spec, "route 'go': response")
    with pytest.raises(TemplateError) as caught:
        render(prepared, {**CTX, "query": {"next": value}})
    assert caught.value.where == "route 'go': response.headers.Location"
    assert caught.value.problem == (
        f"the rendered header value {value!r} holds a line break (CR or LF), which a header "
        "cannot carry"
    )
    ok = render(prepared, {**CTX, "query": {"next": "/next?a=1"}})
    assert ok.headers["Location"] == "/next?a=1"


def test_unknown_filter_is_a_syntax_error_when_compiling() -> None:
    with pytest.raises(TemplateError) as caught:
        templating.json_value({"a": "{{ path.id | nope }}"}, "r.json")
    assert caught.value.where == "r.json.a"
    assert caught.value.problem == "template syntax error: No filter named 'nope'. (line 1)"


def test_template_problems_lists_every_bad_template_by_key() -> None:
    routes = [
        MockRoute.model_validate(
            {
                "path": "/a",
                "response": {
                    "headers": {"X-A": "{{ count }", "X-B": "fine {{ count }}"},
                    "json": {"ok": "{{ json.a }}", "bad": ["x", "{% for %}"]},
                },
            }
        ),
        MockRoute.model_validate({"path": "/b", "response": {"body": "no templates {x}"}}),
        MockRoute.model_validate(
            {"path": "/c", "sequence": [{"stream": ["{{ x"]}, {"sse": ["ok", "{{ |x }}"]}]}
        ),
    ]
    problems = template_problems(routes, "services.api.")
    assert [p.where for p in problems] == [
        "services.api.routes[0].response.headers.X-A",
        "services.api.routes[0].response.json.bad[1]",
        "services.api.routes[2].sequence[0].stream[0]",
        "services.api.routes[2].sequence[1].sse[1].data",
    ]
    assert all(p.problem.startswith("template syntax error: ") for p in problems)
    assert all("\n" not in p.problem for p in problems)


def test_sse_data_splits_on_every_line_end() -> None:
    # a bare CR ends a line in text/event-stream: kept in one data line, it would let
    # templated data forge an ``id:`` or ``event:`` field
    event = SseEvent(data="x")
    assert format_event(event, "a\rid: 9\r\nevent: x\nb") == (
        b"data: a\ndata: id: 9\ndata: event: x\ndata: b\n\n"
    )
    assert format_event(event, "end\r") == b"data: end\ndata: \n\n"


def test_sse_wire_format() -> None:
    event = SseEvent(data="x", event="tick", id="7", retry=500)
    assert format_event(event, "a\nb") == b"event: tick\nid: 7\nretry: 500\ndata: a\ndata: b\n\n"
    assert format_event(SseEvent(data={"k": 1}), {"k": 1}) == b'data: {"k": 1}\n\n'
    assert format_event(SseEvent(data=""), "") == b"data: \n\n"


def test_routes_without_templates_never_import_jinja2() -> None:
    code = (
        "import sys\n"
        "from tempstack.servers.mock.table import RouteTable\n"
        "from tempstack.spec.routes import MockRoute\n"
        "r = MockRoute.model_validate({'path': '/x', 'response': {'json': {'a': '{b}'}}})\n"
        "RouteTable([r])\n"
        "print('jinja2' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
