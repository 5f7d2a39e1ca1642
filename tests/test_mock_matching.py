"""The mock's matching rules and route table, without a server."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from tempstack.servers.mock.jsonmatch import json_equal, json_mismatch
from tempstack.servers.mock.matching import (
    Incoming,
    compile_path,
    conditions_mismatch,
    path_similarity,
)
from tempstack.servers.mock.table import Route, RouteTable
from tempstack.spec.routes import MockMatch, MockRoute


def incoming(
    method: str = "GET",
    path: str = "/",
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: str = "",
) -> Incoming:
    parsed, is_json = Incoming.parse_json(body)
    return Incoming(
        method,
        path,
        MultiDictProxy(MultiDict(query or {})),
        CIMultiDictProxy(CIMultiDict(headers or {})),
        body,
        parsed,
        is_json,
    )


def route(**fields: Any) -> MockRoute:
    return MockRoute.model_validate({"response": {}, **fields})


@pytest.mark.parametrize(
    ("pattern", "path", "params"),
    [
        ("/repos/{owner}/{repo}", "/repos/a/b", {"owner": "a", "repo": "b"}),
        ("/repos/{owner}/{repo}", "/repos/a/b/c", None),
        ("/repos/{owner}", "/repos/", None),
        ("/files/{rest:path}", "/files/a/b.txt", {"rest": "a/b.txt"}),
        ("/v1.0/x", "/v1a0/x", None),  # literal parts are not regular expressions
        ("/items/{id}.json", "/items/7.json", {"id": "7"}),
    ],
)
def test_path_patterns(pattern: str, path: str, params: dict[str, str] | None) -> None:
    m = compile_path(pattern).fullmatch(path)
    assert (m.groupdict() if m else None) == params


@pytest.mark.parametrize(
    ("want", "got", "diff"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, None),
        ({"a": {"b": [1, {"c": True}]}}, {"a": {"b": [1, {"c": True, "d": 0}]}, "x": 1}, None),
        ({"a": 1}, {"b": 1}, "json.a: missing"),
        ({"a": {"b": 2}}, {"a": {"b": 3}}, "json.a.b: 2 expected, got 3"),
        ({"a": True}, {"a": 1}, "json.a: true expected, got 1"),
        ({"a": 1}, {"a": 1.0}, None),
        ({"a": "1"}, {"a": 1}, 'json.a: "1" expected, got 1'),
        ({"l": [1, 2]}, {"l": [1, 2, 3]}, "json.l: [1, 2] expected, got [1, 2, 3]"),
        ({"l": [{"k": 1}]}, {"l": [{"k": 2}]}, "json.l[0].k: 1 expected, got 2"),
        ({"a": 1}, [1], "json: an object expected, got [1]"),
    ],
)
def test_json_subset(want: Any, got: Any, diff: str | None) -> None:
    assert json_mismatch(want, got) == diff


def test_conditions_report_every_reason() -> None:
    match = MockMatch.model_validate(
        {
            "query": {"q": "x"},
            "headers": {"X-Key": "k"},
            "json": {"a": 1},
            "body": "^hello",
        }
    )
    assert conditions_mismatch(match, incoming(query={"q": "x"}, headers={"x-key": "k"})) == [
        "a JSON body expected, got none",
        "body does not match /^hello/",
    ]
    req = incoming(query={"q": "y"}, headers={"X-Key": "other"}, body='{"a": 2}')
    assert conditions_mismatch(match, req) == [
        "query q='x' expected, got q='y'",
        "header X-Key: 'k' expected, got 'other'",
        "json.a: 1 expected, got 2",
        "body does not match /^hello/",
    ]


def test_path_similarity_counts_parameters_as_matching() -> None:
    assert path_similarity("/repos/{owner}/issues", "/repos/acme/issues") == 1.0
    near = path_similarity("/repos/{owner}/issues", "/repos/acme/issue")
    far = path_similarity("/billing/{id}", "/repos/acme/issue")
    assert 1.0 > near > far


def test_runtime_routes_come_first_and_first_listed_wins() -> None:
    table = RouteTable([route(name="a", path="/x"), route(name="b", path="/x")])
    found = table.find(incoming(path="/x"))
    assert found is not None and found[0].name == "a"
    added, replaced = table.add([Route.build(route(name="c", path="/{any}"), "runtime", 0)])
    assert (added, replaced) == (["c"], [])
    found = table.find(incoming(path="/x"))
    assert found is not None and found[0].name == "c"
    table.reset()
    found = table.find(incoming(path="/x"))
    assert found is not None and found[0].name == "a"


def test_sequences_repeat_last_or_cycle_and_times_exhausts() -> None:
    seq = [{"status": 500}, {"status": 200}]
    table = RouteTable(
        [
            route(path="/last", sequence=seq, response=None),
            route(path="/cycle", sequence=seq, response=None, repeat="cycle"),
            route(path="/twice", times=2),
        ]
    )
    last, cycle, twice = table.stack
    assert [last.take().spec.status for _ in range(4)] == [500, 200, 200, 200]
    assert [cycle.take().spec.status for _ in range(4)] == [500, 200, 500, 200]
    for _ in range(2):
        assert table.find(incoming(path="/twice")) is not None
        twice.take()
    assert table.find(incoming(path="/twice")) is None
    [closest] = table.closest(incoming(path="/twice"), limit=1)
    assert closest["why"] == ["used up: times = 2, and it has answered them all"]


def test_closest_ranks_by_path_then_method() -> None:
    table = RouteTable(
        [
            route(name="other", path="/zzz"),
            route(name="get-user", path="/users/{id}"),
            route(name="post-user", method="POST", path="/users/{id}"),
            route(name="users", path="/users"),
        ]
    )
    closest = table.closest(incoming("POST", "/users/7", body="{}"))
    assert [c["name"] for c in closest] == ["post-user", "get-user", "users"]
    assert closest[1]["why"] == ["method is GET, not POST"]
    assert closest[2]["why"] == [
        "method is GET, not POST",
        "path /users/7 does not match /users",
    ]


def test_head_is_answered_by_a_get_route_unless_a_head_route_takes_it() -> None:
    table = RouteTable(
        [
            route(name="get-page", path="/page"),
            route(name="head-page", method="HEAD", path="/page"),
            route(name="get-doc", path="/doc"),
            route(name="post-form", method="POST", path="/form"),
        ]
    )

    def found(method: str, path: str) -> str | None:
        hit = table.find(incoming(method, path))
        return hit[0].name if hit else None

    assert found("HEAD", "/doc") == "get-doc"
    assert found("HEAD", "/page") == "head-page"  # listed later, but made for HEAD
    assert found("GET", "/page") == "get-page"
    assert found("HEAD", "/form") is None
    assert table.closest(incoming("HEAD", "/doc"), limit=1)[0]["why"] == []


@pytest.mark.parametrize(
    ("want", "got", "equal"),
    [
        ({"a": 1}, {"a": 1}, True),
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": 1}, {"a": True}, False),
        ({"a": True}, {"a": 1}, False),
        ({"a": 0}, {"a": False}, False),
        ({"a": "1"}, {"a": 1}, False),
        ({"a": 1}, {"a": 1, "b": 2}, False),  # equality, not the matcher's subset
        ([{"a": None}], [{"a": None}], True),
        ([1, [True]], [1, [1]], False),
    ],
)
def test_json_equal_compares_json_values(want: Any, got: Any, equal: bool) -> None:
    assert json_equal(want, got) is equal
    if equal:  # what is equal also matches as a subset
        assert json_mismatch(want, got) is None
