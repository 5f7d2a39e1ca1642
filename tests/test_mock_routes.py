"""The route models refuse what a mock could not send: bad header names, line breaks in
header values and SSE fields, interim statuses, and bodies on statuses that have none."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tempstack.spec.routes import FaultRule, MockResponse, SseEvent


def problem(model: type[Any], data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    [error] = caught.value.errors()
    return f"{'.'.join(map(str, error['loc']))}: {error['msg']}"


@pytest.mark.parametrize("name", ["Bad Name\n", "Bad Name", "", "X-Id:", "Ünicode", "a\rb"])
def test_header_names_must_be_tokens(name: str) -> None:
    assert problem(MockResponse, {"headers": {name: "x"}}) == (
        f"headers: Value error, {name!r} is not a valid header name (letters, digits and "
        "!#$%&'*+-.^_`|~, no spaces)"
    )


def test_valid_header_names_and_values_pass() -> None:
    headers = {"X-Request-Id": "a b\tc", "WWW-Authenticate": 'Bearer realm="x"', "x_y~z!": ""}
    assert MockResponse.model_validate({"headers": headers}).headers == headers


@pytest.mark.parametrize("value", ["/a\r\nSet-Cookie: x=1", "a\nb", "a\rb"])
def test_header_values_cannot_hold_line_breaks(value: str) -> None:
    assert problem(MockResponse, {"headers": {"Location": value}}) == (
        "headers: Value error, header Location: a value cannot hold a line break (CR or LF)"
    )


@pytest.mark.parametrize("field", ["event", "id"])
@pytest.mark.parametrize("value", ["a\nid: 9", "a\rretry: 1", "a\r\n"])
def test_sse_fields_cannot_hold_line_breaks(field: str, value: str) -> None:
    assert problem(SseEvent, {"data": "x", field: value}).startswith(
        f"{field}: Value error, {value!r}: an SSE field cannot hold a line break"
    )


@pytest.mark.parametrize("status", [100, 101, 103, 199])
def test_interim_statuses_are_refused(status: int) -> None:
    assert problem(MockResponse, {"status": status}).startswith("status: Input should be")
    assert problem(FaultRule, {"rate": 0.5, "status": status}).startswith("status: Input")


def test_lowest_final_status_passes() -> None:
    assert MockResponse.model_validate({"status": 200}).status == 200
    assert FaultRule.model_validate({"rate": 1, "status": 200}).status == 200


@pytest.mark.parametrize("status", [204, 205, 304])
@pytest.mark.parametrize(
    ("key", "value"),
    [("body", "x"), ("json", {"a": 1}), ("stream", ["a"]), ("sse", ["a"])],
)
def test_statuses_without_a_body_refuse_one(status: int, key: str, value: Any) -> None:
    assert problem(MockResponse, {"status": status, key: value}) == (
        f": Value error, a {status} response has no body, so it cannot have {key}; "
        "use another status (200, for example) to send one"
    )


@pytest.mark.parametrize("status", [204, 205, 304])
def test_statuses_without_a_body_pass_without_one(status: int) -> None:
    spec = MockResponse.model_validate({"status": status, "headers": {"ETag": '"v1"'}})
    assert spec.status == status
