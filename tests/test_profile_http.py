"""The recording proxy's records as figures (route patterns, per-route and per-test stats), and
the proxy's own message framing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tempstack.profile import http, proxy
from tempstack.profile.http import Record, read_records, route_pattern, route_stats, window_stats
from tempstack.profile.proxy import ChunkedScanner, ProtocolError, parse_head
from tempstack.report.schema import RouteStats


def rec(
    latency: float,
    path: str = "/orders/1",
    *,
    service: str = "web",
    method: str = "GET",
    status: int = 200,
    start: float = 1000.0,
    streaming: bool = False,
) -> Record:
    return Record(start, service, method, path, status, latency, streaming)


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("/orders/42", "/orders/{id}"),
        ("/orders/42/items/7", "/orders/{id}/items/{id}"),
        ("/u/550e8400-e29b-41d4-a716-446655440000/avatar", "/u/{id}/avatar"),
        ("/u/550E8400-E29B-41D4-A716-446655440000", "/u/{id}"),
        ("/commits/9fceb02d0ae598e95dc970b74767f19372d61af8", "/commits/{id}"),
        ("/blobs/deadbeef", "/blobs/{id}"),
        ("/t/a1b2c3d4", "/t/{id}"),
        ("/orders/ord12345", "/orders/{id}"),
        ("/s/dGhpcyBpcyBhIHRlc3Q", "/s/{id}"),
        ("/s/AbCdEfGhIjKlMnOpQr", "/s/{id}"),
        ("/media/3f2a9c1e8b7d.png", "/media/{id}.png"),
        ("/days/2024-01-31", "/days/{id}"),
        ("/users/alice@example.com", "/users/{id}"),
        ("/users/alice%40example.com/orders", "/users/{id}/orders"),
        # words stay words
        ("/api/v2/products", "/api/v2/products"),
        ("/static/app.js", "/static/app.js"),
        ("/auth/oauth2callback", "/auth/oauth2callback"),
        ("/decode/base64encoded", "/decode/base64encoded"),
        ("/api/getUserProfileById", "/api/getUserProfileById"),
        ("/blog/my-first-post-about-things", "/blog/my-first-post-about-things"),
        ("/health", "/health"),
        ("/", "/"),
        ("", "/"),
        ("*", "*"),
        ("/orders/", "/orders/"),
    ],
)
def test_route_pattern(path: str, pattern: str) -> None:
    assert route_pattern(path) == pattern


def test_read_records_leaves_a_partial_line_for_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "records.tsv"
    path.write_bytes(
        b"1000.5\tweb\tGET\t/orders/1\t200\t12.5\t0\n"
        b"1001.0\tweb\tGET\t/events\t200\t3.25\t1\n"
        b"1002.0\tweb\tPOST\t/ord"
    )
    records, offset = read_records(path)
    assert records == [
        Record(1000.5, "web", "GET", "/orders/1", 200, 12.5, False),
        Record(1001.0, "web", "GET", "/events", 200, 3.25, True),
    ]
    assert offset == path.read_bytes().index(b"1002.0")
    with path.open("ab") as handle:
        handle.write(b"ers\t0\t1.0\t0\n")
    more, offset2 = read_records(path, offset)
    assert more == [Record(1002.0, "web", "POST", "/orders", 0, 1.0, False)]
    assert offset2 == path.stat().st_size
    assert read_records(path, offset2) == ([], offset2)


def test_read_records_skips_malformed_lines_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "records.tsv"
    path.write_bytes(
        b"garbage\n1000\tweb\tGET\t/x\tnot-a-status\t1\t0\n1000\tweb\tGET\t/ok\t204\t1.5\t0\n"
    )
    records, offset = read_records(path)
    assert [r.path for r in records] == ["/ok"]
    assert offset == path.stat().st_size
    assert read_records(tmp_path / "missing.tsv", 7) == ([], 7)


def test_route_stats_percentiles_errors_and_slow() -> None:
    records = [rec(float(ms), f"/orders/{ms}") for ms in range(1, 101)]  # 1..100 ms
    records += [rec(5.0, "/orders/1", status=0), rec(7.0, "/orders/2", status=503)]
    records += [rec(2.0, "/orders/3", status=404)]
    records += [rec(900.0, "/health", service="api"), rec(1.0, "/health", method="HEAD")]
    stats = route_stats(records, slow_ms=50)
    for row in stats:
        RouteStats.model_validate(row)  # the journal's model accepts every row
    assert [(s["service"], s["method"], s["route"]) for s in stats] == [
        ("api", "GET", "/health"),
        ("web", "GET", "/orders/{id}"),  # p95 from the slowest within a service
        ("web", "HEAD", "/health"),
    ]
    orders = stats[1]
    assert orders["count"] == 103
    assert orders["errors"] == 2  # status 0 and 5xx; a 404 is the client's
    # nearest rank over 1..100 plus 5, 7, 2: sorted, the 52nd, 98th, 102nd values
    assert (orders["p50"], orders["p95"], orders["p99"], orders["max"]) == (49.0, 95.0, 99.0, 100.0)
    assert orders["slow"] is True
    assert stats[2]["slow"] is False
    assert stats[0]["p50"] == stats[0]["max"] == 900.0


def test_route_stats_count_streams_by_time_to_head() -> None:
    stats = route_stats(
        [
            rec(4.0, "/events", streaming=True),
            rec(6.0, "/events", streaming=True),
            rec(1.0, "/events"),
        ],
        slow_ms=500,
    )
    assert len(stats) == 1
    assert (stats[0]["count"], stats[0]["streaming"], stats[0]["max"]) == (3, 2, 6.0)


def test_route_stats_caps_distinct_routes_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "MAX_ROUTES", 3)
    records = [rec(1.0, f"/page/{name}") for name in ("alpha", "beta", "gamma", "delta", "epsilon")]
    records += [rec(2.0, "/page/alpha"), rec(2.0, "/page/beta"), rec(2.0, "/page/gamma")]
    records += [rec(1.0, f"/x/{name}", service="other") for name in ("one", "two")]
    stats = route_stats(records, slow_ms=500)
    web = {s["route"]: s["count"] for s in stats if s["service"] == "web"}
    assert web == {"/page/alpha": 2, "/page/beta": 2, "/page/gamma": 2, "{other}": 2}
    assert sorted(s["route"] for s in stats if s["service"] == "other") == ["/x/one", "/x/two"]


def test_route_stats_of_nothing() -> None:
    assert route_stats([], slow_ms=500) == []


def test_window_stats_takes_requests_started_in_the_window() -> None:
    records = [
        rec(100.0, start=999.0),
        rec(1.0, start=1000.0),
        rec(3.0, start=1000.5),
        rec(2.0, start=1001.0),
        rec(50.0, start=1001.5),
    ]
    assert window_stats(records, 1000.0, 1001.0) == {
        "requests": 3,
        "p50": 2.0,
        "p95": 3.0,
        "max": 3.0,
    }
    assert window_stats(records, 2000.0, 3000.0) is None


# -- the proxy's framing (pure parts of tempstack.profile.proxy) ---------------------------------
CHUNKED_BODY = b"5;ext=1\r\nhello\r\n1A\r\n" + b"x" * 26 + b"\r\n0\r\nTrailer: yes\r\n\r\n"


@pytest.mark.parametrize("split", range(len(CHUNKED_BODY) + 1))
def test_chunked_scanner_finds_the_end_wherever_the_reads_split(split: int) -> None:
    scanner = ChunkedScanner()
    data = CHUNKED_BODY + b"GET /next"  # the next message follows at once
    first, second = data[:split], data[split:]
    end = scanner.scan(first)
    if end >= 0:  # the whole body was in the first read
        assert end == len(CHUNKED_BODY)
    else:
        assert split + scanner.scan(second) == len(CHUNKED_BODY)


def test_chunked_scanner_refuses_a_bad_size() -> None:
    with pytest.raises(ProtocolError):
        ChunkedScanner().scan(b"zz\r\nhello\r\n")


def test_parse_head_framing() -> None:
    def req(headers: str, line: str = "POST /x HTTP/1.1") -> proxy.Head:
        return parse_head(f"{line}\r\n{headers}\r\n\r\n".encode(), request=True)

    def resp(headers: str, line: str = "HTTP/1.1 200 OK") -> proxy.Head:
        return parse_head(f"{line}\r\n{headers}\r\n\r\n".encode(), request=False)

    assert req("Content-Length: 12").length == 12
    assert req("content-length: 7, 7").length == 7
    assert req("Transfer-Encoding: chunked\r\nContent-Length: 3").length == proxy.CHUNKED
    assert req("Host: x").length == 0  # a request without framing has no body
    assert resp("Server: y").length == proxy.UNTIL_CLOSE
    assert resp("Transfer-Encoding: gzip").length == proxy.UNTIL_CLOSE
    for bad in ("Content-Length: 1, 2", "Content-Length: -1", "Transfer-Encoding: gzip"):
        with pytest.raises(ProtocolError):
            req(bad)
    with pytest.raises(ProtocolError):
        req("Host: x", line="GET / HTTP/2.0")
    assert req("Connection: Keep-Alive, Close").close
    assert req("Host: x", line="GET / HTTP/1.0").close
    assert not req("Connection: keep-alive", line="GET / HTTP/1.0").close
    assert not req("Host: x").close
    assert req("Expect: 100-continue").expect_continue
    assert resp("Content-Type: text/event-stream; charset=utf-8").streaming_type
    assert not resp("Content-Type: text/html").streaming_type
