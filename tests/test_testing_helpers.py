"""``tempstack.testing`` and ``tempstack.mailbox`` without a stack: retries, waiting, URLs."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tempstack.mailbox import Message
from tempstack.testing import (
    RedisError,
    _reply,
    assert_eventually,
    database_url,
    redis_index,
    redis_url,
    wait_for_http,
)


class Flaky:
    """Fails its first ``failures`` calls with an AssertionError, then returns ``"done"``."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        assert self.calls > self.failures, f"call {self.calls} is too early"
        return "done"


def test_assert_eventually_retries_until_the_assertion_holds() -> None:
    check = Flaky(failures=3)
    assert assert_eventually(check, timeout=30, interval=0.001) == "done"
    assert check.calls == 4


def test_assert_eventually_reports_the_last_error_and_the_tries() -> None:
    check = Flaky(failures=10**9)
    with pytest.raises(AssertionError) as caught:
        assert_eventually(check, timeout=0.05, interval=0.001)
    message = str(caught.value)
    assert f"and {check.calls} tries: call {check.calls} is too early" in message
    assert message.startswith("still failing after ")
    assert isinstance(caught.value.__cause__, AssertionError)  # pytest shows where it failed
    assert check.calls >= 2


def test_assert_eventually_with_no_time_tries_exactly_once() -> None:
    check = Flaky(failures=1)
    with pytest.raises(AssertionError, match=r"and 1 try: call 1 is too early"):
        assert_eventually(check, timeout=0)
    assert check.calls == 1


def test_assert_eventually_does_not_retry_other_errors() -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise KeyError("not an assertion")

    with pytest.raises(KeyError):
        assert_eventually(broken, timeout=30)
    assert calls == [1]


class Server:
    """A real HTTP server on 127.0.0.1 answering the statuses in ``script``, then the last."""

    def __init__(self, script: list[int]) -> None:
        self.script = script
        self.seen: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.seen.append(self.path)
                status = owner.script[min(len(owner.seen), len(owner.script)) - 1]
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)


@pytest.fixture
def server() -> Iterator[type[Server]]:
    started: list[Server] = []

    class Started(Server):
        def __init__(self, script: list[int]) -> None:
            super().__init__(script)
            self.thread.start()
            started.append(self)

    yield Started
    for s in started:
        s.httpd.shutdown()
        s.httpd.server_close()


def test_wait_for_http_waits_for_the_status(server: type[Server]) -> None:
    s = server([503, 503, 200])
    response = wait_for_http(s.url + "/health", timeout=30)
    assert response.status_code == 200 and response.text == "ok"
    assert s.seen == ["/health"] * 3


def test_wait_for_http_any_wanted_status(server: type[Server]) -> None:
    s = server([200, 404])
    assert wait_for_http(s.url, status=404, timeout=30).status_code == 404
    assert len(s.seen) == 2


def test_wait_for_http_names_the_last_answer_when_it_gives_up(server: type[Server]) -> None:
    s = server([503])
    with pytest.raises(TimeoutError, match=r"did not answer 200 within 0.1s .* last: status 503"):
        wait_for_http(s.url, timeout=0.1)


def test_wait_for_http_on_a_closed_port_names_the_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(TimeoutError, match=r"last: ConnectError"):
            wait_for_http(f"http://127.0.0.1:{port}/", timeout=0.1)


def test_urls_for_other_databases() -> None:
    pg = "postgresql://u%40x:p%2Fw@127.0.0.1:5432/app?sslmode=disable"
    assert database_url(pg, "app_gw0_1") == (
        "postgresql://u%40x:p%2Fw@127.0.0.1:5432/app_gw0_1?sslmode=disable"
    )
    assert redis_url("redis://:secret@127.0.0.1:6379/0", 3) == "redis://:secret@127.0.0.1:6379/3"
    assert redis_index("redis://127.0.0.1:6379/5") == 5
    assert redis_index("redis://127.0.0.1:6379") == 0


def test_resp_replies() -> None:
    stream = io.BufferedReader(
        io.BytesIO(
            b"+OK\r\n:7\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$9\r\ndatabases\r\n$2\r\n16\r\n-ERR no\r\n"
        )
    )
    assert _reply(stream) == "OK"
    assert _reply(stream) == 7
    assert _reply(stream) == "hello"
    assert _reply(stream) is None
    assert _reply(stream) == ["databases", "16"]
    error = _reply(stream)
    assert isinstance(error, RedisError) and str(error) == "ERR no"
    with pytest.raises(ConnectionError):
        _reply(stream)  # the server closed the connection


SUMMARY = {
    "ID": "a1",
    "From": {"Name": "Shop", "Address": "shop@example.com"},
    "To": [{"Name": "Ann", "Address": "Ann@Example.com"}],
    "Cc": [],
    "Bcc": [{"Name": "", "Address": "audit@example.com"}],
    "Subject": "Order 7 shipped",
    "Created": "2026-01-01T00:00:00.000Z",
    "Snippet": "tracking",
    "Attachments": 1,
}


def test_mail_message_from_a_listing_and_in_full() -> None:
    listed = Message.from_json(SUMMARY)
    assert listed.sender == "shop@example.com" and listed.to == ("Ann@Example.com",)
    assert listed.attachments == 1 and listed.text is None and listed.html is None
    full = Message.from_json(
        {**SUMMARY, "Attachments": [{"PartID": "2"}], "Text": "hi", "HTML": "<p>hi</p>"}
    )
    assert full.attachments == 1 and full.text == "hi" and full.html == "<p>hi</p>"


@pytest.mark.parametrize(
    ("to", "subject", "matches"),
    [
        ("ann@example.com", None, True),  # an address, ignoring case
        ("audit@example.com", None, True),  # Bcc counts
        ("ann@example", None, False),  # a whole address, not a part
        (None, "ORDER 7", True),  # any part of the subject, ignoring case
        ("ann@example.com", "refund", False),
        (None, None, True),
    ],
)
def test_mail_message_matching(to: str | None, subject: str | None, matches: bool) -> None:
    assert Message.from_json(SUMMARY).matches(to, subject) is matches
