"""Response templates and the SSE wire format, without a server."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from tempstack.servers.mock import templating
from tempstack.servers.mock.responses import format_event, render
from tempstack.servers.mock.table import prepare
from tempstack.servers.mock.templating import TemplateError
from tempstack.spec.routes import MockResponse, SseEvent

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
