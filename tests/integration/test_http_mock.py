"""The ``http-mock`` service through the real engine, seen by httpx and ``tempstack.mock``."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

import tempstack
from tempstack import mock

FAULT_KINDS = ("reset", "close", "timeout")
WriteStack = Callable[..., Path]
Up = Callable[..., tempstack.Run]  # up(toml_text, name="tempstack.toml") -> a live run


def mock_stack(routes: str, *, seed: int | None = None) -> str:
    """A stack with one mock, ``api``; ``routes`` is TOML for ``[[services.api.routes]]``."""
    head = '[stack]\nname = "mock"\n\n[services.api]\nkind = "http-mock"\n'
    if seed is not None:
        head += f"seed = {seed}\n"
    return head + routes


@pytest.fixture
def up(write_stack: WriteStack) -> Iterator[Up]:
    """Start a stack from TOML text; every stack started is torn down after the test."""
    with ExitStack() as stacks:

        def start(text: str, name: str = "tempstack.toml") -> tempstack.Run:
            stack = tempstack.Stack.load(write_stack(text, name=name))
            return stacks.enter_context(stack.up())

        yield start


def test_routes_from_a_file_with_path_params_and_templates(
    write_stack: WriteStack, tmp_path: Path
) -> None:
    mocks = tmp_path / "mocks"
    mocks.mkdir()
    (mocks / "github.toml").write_text(
        """
[[routes]]
name = "issue"
path = "/repos/{owner}/{repo}/issues/{number}"
response.headers = { X-Repo = "{{ path.owner }}/{{ path.repo }}", X-Call = "{{ count }}" }
response.json = { number = "{{ path.number | int }}", title = "Issue {{ path.number }}", \
labels = ["{{ query.label }}"], agent = "{{ headers['user-agent'] }}", nested = { n = 1 } }

[[routes]]
name = "create"
method = "POST"
path = "/repos/{owner}/{repo}/issues"
response.status = 201
response.json = { title = "{{ json.title }}", labels = "{{ json.labels }}", by = "{{ method }}" }

[[routes]]
path = "/raw/{file:path}"
response.body = "file={{ path.file }} url={{ url }} body={{ body }}"
"""
    )
    stack = tempstack.Stack.load(
        write_stack(
            '[stack]\nname = "gh"\n\n[services.github]\nkind = "http-mock"\n'
            'routes = "mocks/github.toml"\n'
        )
    )
    with stack.up() as run, httpx.Client(base_url=run.env["GITHUB_URL"]) as http:
        assert run.env["GITHUB_ADMIN_URL"] == run.env["GITHUB_URL"] + "/__tempstack"
        r = http.get("/repos/acme/shop/issues/42?label=bug", headers={"User-Agent": "t/1"})
        assert r.status_code == 200
        assert r.headers["x-repo"] == "acme/shop" and r.headers["x-call"] == "1"
        # a leaf that is one expression keeps its type; others are text
        assert r.json() == {
            "number": 42,
            "title": "Issue 42",
            "labels": ["bug"],
            "agent": "t/1",
            "nested": {"n": 1},
        }
        assert http.get("/repos/a/b/issues/1?label=x").headers["x-call"] == "2"

        r = http.post("/repos/acme/shop/issues", json={"title": "Broken", "labels": ["p1"]})
        assert r.status_code == 201
        assert r.json() == {"title": "Broken", "labels": ["p1"], "by": "POST"}

        # {name:path} takes the rest of the path, slashes included
        r = http.request("GET", "/raw/docs/a/b.txt?x=1", content=b"hello")
        assert (
            r.text
            == f"file=docs/a/b.txt url={run.env['GITHUB_URL']}/raw/docs/a/b.txt?x=1 body=hello"
        )
        assert r.headers["content-type"].startswith("text/plain")
        # {name} is one segment only
        assert http.get("/repos/acme/shop/issues/1/comments").status_code == 404


MATCHING = """
[[services.api.routes]]
name = "search-open"
path = "/search"
match.query = { state = "open" }
response.body = "open"

[[services.api.routes]]
name = "tenant"
path = "/search"
match.headers = { x-tenant = "acme" }
response.body = "acme"

[[services.api.routes]]
name = "vip-order"
method = "POST"
path = "/orders"
match.json = { customer = { tier = "vip" }, items = [{ sku = "A" }] }
response.body = "vip"

[[services.api.routes]]
name = "urgent"
method = "*"
path = "/orders"
match.body = "urgent|asap"
response.body = "urgent"

[[services.api.routes]]
name = "fallback"
method = "*"
path = "/{any:path}"
response = { status = 418, body = "fallback" }
"""


def test_each_match_kind_selects_its_route(up: Up) -> None:
    run = up(mock_stack(MATCHING))
    with httpx.Client(base_url=run.env["API_URL"]) as http:
        assert http.get("/search?state=open&page=2").text == "open"
        assert http.get("/search?state=closed").text == "fallback"
        # header names match whatever their case
        assert http.get("/search", headers={"X-TENANT": "acme"}).text == "acme"
        assert http.get("/search", headers={"X-Tenant": "other"}).text == "fallback"
        # json: a subset, recursively; extra keys are fine, a different value is not
        vip = {"customer": {"tier": "vip", "id": 7}, "items": [{"sku": "A", "qty": 2}], "x": 1}
        assert http.post("/orders", json=vip).text == "vip"
        regular = {"customer": {"tier": "basic"}, "items": [{"sku": "A"}]}
        assert http.post("/orders", json=regular).text == "fallback"
        two_items = {"customer": {"tier": "vip"}, "items": [{"sku": "A"}, {"sku": "B"}]}
        assert http.post("/orders", json=two_items).text == "fallback"
        assert http.post("/orders", content=b"not json").text == "fallback"
        # body: a regular expression searched in the text; any method with "*"
        assert http.put("/orders", content=b"ship it asap please").text == "urgent"
        assert http.post("/orders", json={"note": "urgent"}).text == "urgent"
        assert http.delete("/anything/else").text == "fallback"


def test_sequence_then_last_or_cycle(up: Up) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
method = "POST"
path = "/pay"
sequence = [{ status = 500 }, { status = 503 }, { status = 200, json = { ok = true } }]

[[services.api.routes]]
path = "/light"
repeat = "cycle"
sequence = [{ body = "red" }, { body = "green" }]
""")
    )
    with httpx.Client(base_url=run.env["API_URL"]) as http:
        assert [http.post("/pay").status_code for _ in range(5)] == [500, 503, 200, 200, 200]
        assert [http.get("/light").text for _ in range(5)] == [
            "red",
            "green",
            "red",
            "green",
            "red",
        ]
        mock.client(run.env["API_URL"]).reset()  # sequences start again
        assert http.post("/pay").status_code == 500


def test_times_exhausts_a_route(up: Up) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
name = "token-once"
method = "POST"
path = "/token"
times = 2
response.json = { token = "t-{{ count }}" }
""")
    )
    with httpx.Client(base_url=run.env["API_URL"]) as http:
        assert [http.post("/token").json()["token"] for _ in range(2)] == ["t-1", "t-2"]
        r = http.post("/token")
        assert r.status_code == 404
        [closest] = r.json()["closest"]
        assert closest["name"] == "token-once"
        assert any("used up" in why for why in closest["why"])


def test_latency_and_delay_are_waited_without_blocking_others(
    up: Up,
) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
path = "/slow"
latency = "300ms"
response = { body = "slow", delay = "200ms" }

[[services.api.routes]]
path = "/very-slow"
latency = "1s"
response.body = "finally"

[[services.api.routes]]
path = "/fast"
response.body = "fast"
""")
    )
    url = run.env["API_URL"]
    start = time.monotonic()
    assert httpx.get(url + "/slow").text == "slow"
    assert time.monotonic() - start >= 0.5  # route latency plus the response's delay

    slow: dict[str, str] = {}
    thread = threading.Thread(target=lambda: slow.update(text=httpx.get(url + "/very-slow").text))
    thread.start()
    try:
        assert httpx.get(url + "/fast").text == "fast"
        assert slow == {}  # answered while the slow request is still waiting
    finally:
        thread.join()
    assert slow == {"text": "finally"}


FAULTS = """
[[services.api.routes]]
path = "/reset"
{reset}

[[services.api.routes]]
path = "/close"
{close}

[[services.api.routes]]
path = "/hang"
{timeout}

[[services.api.routes]]
path = "/ok"
response.body = "ok"
"""


@pytest.mark.parametrize(
    "how",
    [
        pytest.param('response.fault = "{kind}"', id="response-fault"),
        pytest.param(
            'faults = {{ rate = 1.0, kind = "{kind}" }}\nresponse.body = "never"',
            id="random-fault",
        ),
    ],
)
def test_each_fault_type_as_httpx_sees_it(up: Up, how: str) -> None:
    run = up(mock_stack(FAULTS.format(**{k: how.format(kind=k) for k in FAULT_KINDS})))
    url = run.env["API_URL"]
    with httpx.Client(base_url=url) as http:
        with pytest.raises(httpx.ReadError, match="reset"):
            http.get("/reset")
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            http.get("/close")
        with pytest.raises(httpx.ReadTimeout):
            http.get("/hang", timeout=0.3)
        assert http.get("/ok").text == "ok"  # the server is fine after all of that
    journal = mock.client(url).requests()
    assert [(r.path, r.fault, r.status) for r in journal] == [
        ("/reset", "reset", None),
        ("/close", "close", None),
        ("/hang", "timeout", None),
        ("/ok", None, 200),
    ]


def test_random_status_fault_answers_its_status(up: Up) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
name = "down"
path = "/down"
faults = { rate = 1.0, status = 503 }
response.body = "never"
""")
    )
    r = httpx.get(run.env["API_URL"] + "/down")
    assert r.status_code == 503
    assert r.json() == {"error": "injected fault", "route": "down"}


FLAKY = """
[[services.api.routes]]
path = "/flaky"
faults = { rate = 0.5, status = 502 }
response.body = "ok"
"""


def test_random_faults_repeat_with_a_seed(up: Up) -> None:
    def pattern(run: tempstack.Run) -> list[int]:
        with httpx.Client(base_url=run.env["API_URL"]) as http:
            return [http.get("/flaky").status_code for _ in range(30)]

    first = up(mock_stack(FLAKY, seed=7))
    once = pattern(first)
    assert set(once) == {200, 502}
    mock.client(first.env["API_URL"]).reset()  # reset also restarts the random sequence
    assert pattern(first) == once
    again = up(
        mock_stack(FLAKY, seed=7), name="again.toml"
    )  # another run, the same seed: the same faults
    assert pattern(again) == once
    other = up(mock_stack(FLAKY, seed=8), name="other.toml")
    assert pattern(other) != once


def test_chunked_stream(up: Up) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
path = "/export/{name}"
response = { stream = ["id,name\\n", "1,{{ path.name }}\\n", "2,b\\n"], interval = "150ms" }
""")
    )
    start = time.monotonic()
    with httpx.stream("GET", run.env["API_URL"] + "/export/alice") as r:
        assert r.headers["transfer-encoding"] == "chunked"
        text = "".join(r.iter_text())
    assert time.monotonic() - start >= 0.3  # two intervals between three chunks
    assert text == "id,name\n1,alice\n2,b\n"


def parse_sse(lines: Iterator[str]) -> list[dict[str, Any]]:
    """Events as the EventSource algorithm builds them: fields until a blank line."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in lines:
        if not line:
            if current:
                events.append(current)
            current = {}
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            current["data"] = current["data"] + "\n" + value if "data" in current else value
        else:
            current[field] = value
    assert not current, f"the stream ended inside an event: {current}"
    return events


def test_sse_stream_read_to_the_end(up: Up) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
method = "POST"
path = "/v1/chat"
response.interval = "50ms"
response.sse = [
  "hello {{ json.user }}",
  { event = "delta", id = "1", data = { text = "{{ json.prompt }}", n = "{{ count }}" } },
  { event = "delta", id = "2", data = "line one\\nline two", retry = 1500 },
  { event = "done", data = "[DONE]" },
]
""")
    )
    body = {"user": "ana", "prompt": "hi"}
    with httpx.stream("POST", run.env["API_URL"] + "/v1/chat", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        events = parse_sse(r.iter_lines())
    assert events == [
        {"data": "hello ana"},
        {"event": "delta", "id": "1", "data": '{"text": "hi", "n": 1}'},
        {"event": "delta", "id": "2", "retry": "1500", "data": "line one\nline two"},
        {"event": "done", "data": "[DONE]"},
    ]
    assert json.loads(events[1]["data"]) == {"text": "hi", "n": 1}


def test_admin_api_adds_replaces_removes_and_resets(up: Up) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
name = "user"
path = "/users/{id}"
response.json = { id = "{{ path.id }}", source = "stack" }
""")
    )
    client = mock.client(run.env["API_ADMIN_URL"])
    with httpx.Client(base_url=run.env["API_URL"]) as http:
        # a run-time route comes before the stack's
        client.add_route(name="user-down", path="/users/{id}", response={"status": 503})
        assert http.get("/users/1").status_code == 503
        # the same name replaces it
        client.add_route({"name": "user-down", "path": "/users/{id}", "response": {"body": "v2"}})
        assert http.get("/users/1").text == "v2"
        assert [(r["source"], r["route"].get("name")) for r in client.routes()] == [
            ("runtime", "user-down"),
            ("stack", "user"),
        ]
        client.add_route(path="/health", response={"body": "up"})
        assert http.get("/health").text == "up"
        # replace every run-time route at once
        client.replace_routes([{"name": "only", "path": "/only", "response": {"body": "1"}}])
        assert http.get("/health").status_code == 404
        assert http.get("/users/1").json() == {"id": "1", "source": "stack"}
        assert http.get("/only").text == "1"
        client.remove_route("only")
        assert http.get("/only").status_code == 404
        with pytest.raises(KeyError, match="no run-time route named 'only'"):
            client.remove_route("only")
        # reset drops run-time routes and the journal
        client.add_route(name="x", path="/x", response={"body": "x"})
        client.reset()
        assert http.get("/x").status_code == 404
        assert [r.path for r in client.requests()] == ["/x"]


def test_admin_api_rejects_bad_routes_with_one_line_per_problem(
    up: Up,
) -> None:
    run = up(mock_stack(""))
    client = mock.client(run.env["API_URL"])
    with pytest.raises(mock.MockRouteError) as caught:
        client.add_routes(
            [
                {"path": "no-slash", "response": {}},
                {"path": "/ok", "response": {"status": 700}},
                {"name": "t", "path": "/t", "response": {"body": "{{ unclosed"}},
                {"name": "t", "path": "/t2", "response": {}},
            ]
        )
    errors = caught.value.errors
    assert len(errors) == 2, errors  # pydantic problems first; templates once the model holds
    assert errors[0].startswith("routes[0].path: path must start with '/'")
    assert errors[1].startswith("routes[1].response.status:")
    with pytest.raises(mock.MockRouteError) as caught:
        client.add_routes(
            [
                {"name": "t", "path": "/t", "response": {"body": "{{ unclosed"}},
                {"name": "t", "path": "/t2", "response": {}},
            ]
        )
    assert caught.value.errors[0].startswith(
        "routes[0]: route 't': response.body: template syntax error"
    )
    assert caught.value.errors[1] == "routes[1].name: 't' is given twice"
    with pytest.raises(mock.MockRouteError, match=r"response\.stauts: unknown key"):
        client.add_route(path="/x", response={"stauts": 201})
    assert client.routes() == []  # nothing was added by a rejected request
    r = httpx.post(run.env["API_ADMIN_URL"] + "/routes", content=b"{not json")
    assert r.status_code == 400 and "not JSON" in r.json()["errors"][0]
    r = httpx.get(run.env["API_ADMIN_URL"] + "/nope")
    assert r.status_code == 404 and "GET /__tempstack/requests" in r.json()["error"]


def test_journal_records_matched_and_unmatched_requests(
    up: Up,
) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
name = "item"
method = "PUT"
path = "/items/{id}"
response.status = 204
""")
    )
    client = mock.client(run.env["API_URL"])
    with httpx.Client(base_url=run.env["API_URL"]) as http:
        http.put("/items/1?tag=a&tag=b&v=2", json={"name": "one"}, headers={"X-Trace": "t1"})
        http.put("/items/2", content=b"plain text")
        http.get("/missing")
    journal = client.requests()
    assert [(r.method, r.path, r.status, r.route) for r in journal] == [
        ("PUT", "/items/1", 204, "item"),
        ("PUT", "/items/2", 204, "item"),
        ("GET", "/missing", 404, None),
    ]
    first = journal[0]
    assert first.query == {"tag": ["a", "b"], "v": "2"}
    assert first.json == {"name": "one"} and json.loads(first.body) == {"name": "one"}
    assert first.header("x-trace") == "t1" and first.route_source == "stack"
    assert journal[1].body == "plain text" and journal[1].json is None
    # filters: method, a path pattern, a route name
    assert [r.path for r in client.requests("put", "/items/{id}")] == ["/items/1", "/items/2"]
    assert [r.path for r in client.requests(path="/items/2")] == ["/items/2"]
    assert [r.path for r in client.requests(route="item")] == ["/items/1", "/items/2"]
    assert client.requests("GET", "/items/{id}") == []
    assert client.clear_requests() == 3
    assert client.requests() == []


def test_unmatched_request_lists_the_closest_routes_and_why(
    up: Up,
) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
name = "list-repos"
path = "/orgs/{org}/repos"
response.body = "[]"

[[services.api.routes]]
name = "create-repo"
method = "POST"
path = "/orgs/{org}/repos"
match = { json = { private = true }, headers = { authorization = "Bearer t" } }
response.status = 201

[[services.api.routes]]
name = "ping"
path = "/ping"
response.body = "pong"

[[services.api.routes]]
name = "billing"
path = "/billing/{account}/invoices"
response.body = "[]"
""")
    )
    r = httpx.post(run.env["API_URL"] + "/orgs/acme/repos", json={"private": False})
    assert r.status_code == 404
    answer = r.json()
    assert answer["request"] == {"method": "POST", "path": "/orgs/acme/repos"}
    assert "POST /orgs/acme/repos" in answer["error"]
    closest = answer["closest"]
    assert [c["name"] for c in closest[:2]] == ["create-repo", "list-repos"]
    assert closest[0]["why"] == [
        "header authorization: 'Bearer t' expected, not sent",
        "json.private: true expected, got false",
    ]
    assert closest[1]["why"] == ["method is GET, not POST"]
    assert len(closest) == 3
    assert mock.client(run.env["API_URL"]).requests()[0].status == 404


def test_template_error_is_a_500_naming_the_template(up: Up) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
name = "greet"
path = "/greet/{name}"
response.json = { greeting = "hello {{ path.nmae }}" }
""")
    )
    r = httpx.get(run.env["API_URL"] + "/greet/bo")
    assert r.status_code == 500
    assert r.json()["template"] == "route 'greet': response.json.greeting"
    assert "nmae" in r.json()["problem"]
    assert mock.client(run.env["API_URL"]).requests()[0].error is not None


def test_client_assertions(up: Up) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
name = "create"
method = "POST"
path = "/issues"
response.status = 201
""")
    )
    client = mock.client(run.env["API_URL"])
    with httpx.Client(base_url=run.env["API_URL"]) as http:
        http.post("/issues", json={"title": "a"}, headers={"X-Key": "k1"})
        http.post("/issues", json={"title": "b"})
        http.get("/nothing")

    client.assert_called("POST", "/issues", times=2)
    one = client.assert_called_once("POST", "/issues", json={"title": "a"})
    assert one.header("X-KEY") == "k1"
    client.assert_called_once("post", "/issues", headers={"x-key": "k1"})
    client.assert_not_called("DELETE", "/issues")
    client.assert_not_called("POST", "/issues", json={"title": "c"})

    with pytest.raises(AssertionError) as caught:
        client.assert_called_once("POST", "/issues", json={"title": "c"})
    message = str(caught.value)
    assert message.startswith(
        'expected POST /issues to be called once with json={"title": "c"}, but it was called '
        "never that way (twice in all with that method and path)."
    )
    assert "The mock received 3 request(s):" in message
    assert '#1 POST /issues json={"title": "a"} -> 201 (route \'create\')' in message
    assert "#3 GET /nothing -> 404 (unmatched)" in message

    with pytest.raises(AssertionError, match=r"called once, but it was called twice\."):
        client.assert_called_once("POST", "/issues")
    with pytest.raises(AssertionError, match="expected POST /issues not to be called, but"):
        client.assert_not_called("POST", "/issues")
    with pytest.raises(AssertionError, match="at least once, but it was called never"):
        client.assert_called("GET", "/issues/{n}")
    client.reset()
    with pytest.raises(AssertionError, match="The mock received no requests"):
        client.assert_called("POST", "/issues")


def test_stops_at_once_on_sigterm_while_a_request_is_held(
    up: Up,
) -> None:
    run = up(mock_stack('[[services.api.routes]]\npath = "/hang"\nresponse.fault = "timeout"\n'))
    client = mock.client(run.env["API_URL"])
    outcome: list[BaseException] = []

    def held() -> None:
        try:
            httpx.get(run.env["API_URL"] + "/hang", timeout=60)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=held)
    thread.start()
    while not client.requests():  # the request is in, and held
        time.sleep(0.01)
    pid = run.services["api"].pid
    assert pid is not None
    server = psutil.Process(pid)
    server.terminate()
    # the server exits by itself (a SIGKILL would leave no "stopping" line) and lets the
    # held request go rather than keep it for the client's 60 s
    server.wait(timeout=30)
    thread.join()
    assert [type(e) for e in outcome] == [httpx.RemoteProtocolError]
    log = (run.dir / "api" / "output.log").read_text()
    assert log.rstrip().endswith("stopping")


def test_a_line_break_rendered_into_a_header_is_a_500_naming_the_template(up: Up) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
name = "redirect"
path = "/go"
response = { status = 302, headers = { Location = "{{ query.next }}" }, body = "moved" }
""")
    )
    client = mock.client(run.env["API_URL"])
    with httpx.Client(base_url=run.env["API_URL"]) as http:
        r = http.get("/go", params={"next": "/a\r\nSet-Cookie: session=forged"})
        assert r.status_code == 500
        assert "set-cookie" not in r.headers
        assert r.json()["template"] == "route 'redirect': response.headers.Location"
        assert "line break" in r.json()["problem"]
        r = http.get("/go", params={"next": "/a"})  # the same connection still works
        assert (r.status_code, r.headers["location"]) == (302, "/a")
    first, second = client.requests()
    assert first.status == 500 and first.error is not None and "line break" in first.error
    assert (second.status, second.error) == (302, None)
    # a header name that is not a token never gets in, through the admin API either
    with pytest.raises(mock.MockRouteError) as caught:
        client.add_route(path="/x", response={"headers": {"Bad Name\n": "x"}})
    assert caught.value.errors == [
        "response.headers: 'Bad Name\\n' is not a valid header name (letters, digits and "
        "!#$%&'*+-.^_`|~, no spaces)"
    ]


def test_a_response_cut_short_is_journaled_as_a_failure_not_a_status(up: Up) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
path = "/events"
response = { sse = ["first", "never sent"], interval = "60s" }
""")
    )
    client = mock.client(run.env["API_URL"])
    with httpx.stream("GET", run.env["API_URL"] + "/events") as r:
        assert r.status_code == 200
        assert next(r.iter_lines()) == "data: first"
    # the client has gone while the server waits to send the second event
    for _ in range(500):
        [entry] = client.requests()
        if entry.error is not None:
            break
        time.sleep(0.02)
    assert (entry.status, entry.error) == (None, "the connection closed during the response")


def test_a_body_on_a_204_and_an_interim_status_are_refused(up: Up) -> None:
    run = up(mock_stack(""))
    client = mock.client(run.env["API_URL"])
    with pytest.raises(mock.MockRouteError) as caught:
        client.add_routes(
            [
                {"path": "/a", "response": {"status": 204, "json": {"ok": True}}},
                {"path": "/b", "response": {"status": 103}},
            ]
        )
    assert caught.value.errors[0] == (
        "routes[0].response: a 204 response has no body, so it cannot have json; use another "
        "status (200, for example) to send one"
    )
    assert caught.value.errors[1].startswith("routes[1].response.status:")
    client.add_route(path="/a", response={"status": 204, "headers": {"X-Done": "1"}})
    r = httpx.get(run.env["API_URL"] + "/a")
    assert (r.status_code, r.headers["x-done"], r.content) == (204, "1", b"")


def test_admin_api_reads_json_whatever_charset_the_request_names(up: Up) -> None:
    run = up(mock_stack(""))
    routes = run.env["API_ADMIN_URL"] + "/routes"
    route = json.dumps({"path": "/x", "response": {"body": "x"}}).encode()
    r = httpx.post(routes, content=route, headers={"Content-Type": "application/json; charset=foo"})
    assert r.status_code == 201, r.text
    r = httpx.post(routes, content=b'{"path": "/\xff"}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error.startswith("the request body is not JSON (UTF-8): ")
    assert [route["route"]["path"] for route in mock.client(run.env["API_URL"]).routes()] == ["/x"]


def test_head_is_answered_by_a_get_route_with_headers_only(up: Up) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
name = "doc"
path = "/doc"
response = { headers = { X-Doc = "1" }, json = { a = 1 } }

[[services.api.routes]]
path = "/events"
response = { sse = ["a", "b"], interval = "60s" }
""")
    )
    with httpx.Client(base_url=run.env["API_URL"]) as http:
        r = http.head("/doc")
        assert (r.status_code, r.headers["x-doc"], r.content) == (200, "1", b"")
        assert r.headers["content-type"] == "application/json"
        assert r.headers["content-length"] == str(len(b'{"a": 1}'))
        r = http.head("/events")  # a stream: its headers, and no waiting for its events
        assert (r.status_code, r.content) == (200, b"")
        assert r.headers["content-type"] == "text/event-stream"
        assert http.get("/doc").json() == {"a": 1}  # the connection is still in step
        assert http.post("/doc").status_code == 404
    journal = mock.client(run.env["API_URL"]).requests()
    assert [(e.method, e.route, e.status) for e in journal[:3]] == [
        ("HEAD", "doc", 200),
        ("HEAD", "GET /events", 200),
        ("GET", "doc", 200),
    ]


def test_journal_keeps_the_first_mib_of_a_body_but_matches_on_all_of_it(up: Up) -> None:
    run = up(
        mock_stack("""
[[services.api.routes]]
method = "POST"
path = "/upload"
match.body = "END$"
response.body = "whole body seen"
""")
    )
    mib = 1024**2
    body = b"x" * (mib + mib // 2) + b"END"
    r = httpx.post(run.env["API_URL"] + "/upload", content=body)
    assert r.text == "whole body seen"
    [entry] = mock.client(run.env["API_URL"]).requests()
    assert (entry.truncated, entry.body_size, entry.body) == (True, len(body), "x" * mib)
    assert entry.json is None and entry.status == 200
    assert f"({len(body)} bytes, kept truncated)" in entry.describe()


def test_assertions_compare_json_as_json(up: Up) -> None:
    run = up(
        mock_stack('[[services.api.routes]]\nmethod = "POST"\npath = "/flags"\nresponse = {}\n')
    )
    httpx.post(run.env["API_URL"] + "/flags", json={"a": True, "n": 2.0})
    client = mock.client(run.env["API_URL"])
    client.assert_not_called("POST", "/flags", json={"a": 1, "n": 2})  # true is not 1
    client.assert_called_once("POST", "/flags", json={"a": True, "n": 2})  # 2.0 is 2
    with pytest.raises(AssertionError, match="called once with json="):
        client.assert_called_once("POST", "/flags", json={"a": 1, "n": 2})


def test_stops_at_once_on_sigterm_while_a_body_is_half_sent(up: Up) -> None:
    run = up(mock_stack(""))
    client = mock.client(run.env["API_URL"])
    with socket.create_connection((run.env["API_HOST"], int(run.env["API_PORT"]))) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: mock\r\nContent-Length: 100\r\n\r\n0123456789"
        )
        for _ in range(1000):  # in the journal as it arrives, before its body
            if journal := client.requests():
                break
            time.sleep(0.01)
        [entry] = journal
        assert (entry.path, entry.body, entry.status) == ("/upload", "", None)
        pid = run.services["api"].pid
        assert pid is not None
        server = psutil.Process(pid)
        server.terminate()
        server.wait(timeout=30)
        sock.settimeout(30)
        assert sock.recv(1024) == b""  # let go without an answer
    log = (run.dir / "api" / "output.log").read_text().splitlines()
    assert log[-2:] == [
        "stopping",
        "POST /upload -> abandoned: the server stopped before the body had arrived",
    ]
