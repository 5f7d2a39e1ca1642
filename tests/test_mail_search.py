"""The mailbox and Mailpit's search syntax, on real parsed messages held in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tempstack.servers.mail.search import tokens
from tempstack.servers.mail.store import Mailbox


def message(subject: str, to: str, sender: str, extra: str = "", body: str = "hello") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}\r\n{body}\r\n").encode()


def filled() -> Mailbox:
    box = Mailbox(max_messages=10)
    box.add(message("Password reset", "Ann <ann@example.com>", "auth@example.com"), "", [])
    box.add(
        message(
            "Invoice March", "bob@example.com", "Billing <billing@example.com>", "X-Tags: x\r\n"
        ),
        "",
        [],
    )
    box.add(
        message("Invoice April", "ann@example.com", "billing@example.com", body="total 10 EUR"),
        "",
        ["ann@example.com", "audit@example.com"],
    )
    return box


def subjects(box: Mailbox, query: str) -> list[str]:
    return [c.message.subject for c in box.search(query)]


def test_tokens_group_quoted_words() -> None:
    assert tokens('subject:"order shipped"  to:ann -"a b"') == [
        "subject:order shipped",
        "to:ann",
        "-a b",
    ]


def test_filters_words_and_negation() -> None:
    box = filled()
    assert subjects(box, "to:ann") == ["Invoice April", "Password reset"]
    assert subjects(box, "TO:ANN@EXAMPLE.COM") == ["Invoice April", "Password reset"]
    assert subjects(box, "from:billing") == ["Invoice April", "Invoice March"]
    assert subjects(box, "from:Billing to:bob") == ["Invoice March"]
    assert subjects(box, 'subject:"invoice april"') == ["Invoice April"]
    assert subjects(box, "invoice !april") == ["Invoice March"]
    assert subjects(box, "eur") == ["Invoice April"]  # plain words search the body too
    assert subjects(box, "bcc:audit") == ["Invoice April"]
    assert subjects(box, "tag:x") == ["Invoice March"]
    assert subjects(box, "is:tagged") == ["Invoice March"]
    assert subjects(box, '-- ! ""') == subjects(box, "")  # no letters or digits: ignored


def test_read_flags_and_sizes() -> None:
    box = filled()
    latest = box.latest()
    assert latest is not None and latest.message.subject == "Invoice April"
    box.mark([latest.id], read=True)
    assert subjects(box, "is:read") == ["Invoice April"]
    assert box.unread == 2
    box.mark(None, read=False)
    assert box.unread == 3
    sizes = sorted(len(c.raw) for c in box.newest_first())
    assert len(subjects(box, f"larger:{sizes[-1]}")) == 1
    assert len(subjects(box, f"smaller:{sizes[0]}")) == 1
    assert len(subjects(box, "larger:1K")) == 0
    assert len(subjects(box, "larger:lots")) == 3  # unparsable: ignored, as Mailpit does


def test_dates() -> None:
    box = filled()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert len(subjects(box, f"after:{past}")) == 3
    assert subjects(box, f"after:{future}") == []
    assert len(subjects(box, f"-before:{past}")) == 3


def test_max_messages_drops_the_oldest_and_delete() -> None:
    box = Mailbox(max_messages=2)
    ids = [
        box.add(message(f"m{n}", "a@example.com", "b@example.com"), "", [])[0].id for n in range(3)
    ]
    assert [c.id for c in box.newest_first()] == [ids[2], ids[1]]
    assert box.get(ids[0]) is None
    assert box.delete([ids[1], "unknown"]) == 1
    assert box.clear() == 1 and len(box) == 0
    assert box.stats.dropped == 1 and box.stats.deleted == 2


def test_a_message_the_parser_fails_on_is_still_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise ValueError("parser bug")

    monkeypatch.setattr("tempstack.servers.mail.store.parse", broken)
    box = Mailbox(max_messages=5)
    kept, _ = box.add(b"Subject: x\r\n\r\nbody words\r\n", "app@example.com", ["a@example.com"])
    assert box.get(kept.id) is kept
    assert kept.message.sender.address == "app@example.com"
    assert [a.address for a in kept.message.bcc] == ["a@example.com"]
    assert subjects(box, "words") == [""]
