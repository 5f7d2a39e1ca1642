"""The mock's journal keeps a bounded amount of every request, without a server."""

from __future__ import annotations

import json

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from tempstack.servers.mock.journal import BODY_LIMIT, Journal


def record(journal: Journal, raw: bytes) -> dict[str, object]:
    entry = journal.record(
        "POST",
        "/upload",
        MultiDictProxy(MultiDict({"a": "1"})),
        CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"})),
    )
    text = raw.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    entry.keep_body(raw, text, parsed)
    return entry.to_json()


def test_a_body_up_to_the_limit_is_kept_whole() -> None:
    raw = json.dumps({"pad": "x" * (BODY_LIMIT - 20)}).encode()
    assert len(raw) <= BODY_LIMIT
    kept = record(Journal(), raw)
    assert kept["body"] == raw.decode() and kept["body_size"] == len(raw)
    assert kept["truncated"] is False and kept["json"] == {"pad": "x" * (BODY_LIMIT - 20)}


def test_a_longer_body_is_cut_at_the_limit_and_flagged() -> None:
    raw = json.dumps({"pad": "é" * BODY_LIMIT}).encode()  # 2 bytes a character
    kept = record(Journal(), raw)
    assert kept["truncated"] is True and kept["body_size"] == len(raw)
    body = kept["body"]
    assert isinstance(body, str) and BODY_LIMIT - 4 < len(body.encode()) <= BODY_LIMIT
    assert raw.decode().startswith(body)  # the character cut in two is left out
    assert kept["json"] is None  # a body too big to keep whole is not kept parsed either


def test_an_entry_is_visible_before_its_body_arrives() -> None:
    journal = Journal()
    journal.record("PUT", "/x", MultiDictProxy(MultiDict()), CIMultiDictProxy(CIMultiDict()))
    [entry] = journal.select()
    assert (entry.body, entry.body_size, entry.status) == ("", 0, None)
