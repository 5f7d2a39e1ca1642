"""The mail server's parsing of captured messages (no server: raw bytes in, fields out)."""

from __future__ import annotations

from email import message_from_bytes, policy

from tempstack.servers.mail.htmltext import html_to_text
from tempstack.servers.mail.message import (
    Address,
    canonical_key,
    find_part,
    parse,
    snippet,
)

MIXED = b"""From: Shop <shop@example.com>\r
To: ann@example.com\r
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r
X-Long: first\r
 second\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary="XX"\r
\r
--XX\r
Content-Type: multipart/related; boundary="RR"\r
\r
--RR\r
Content-Type: text/html; charset=utf-8\r
\r
<html><head><title>T</title><style>p{color:red}</style></head><body>\r
<p>Hello&nbsp;<b>there</b></p><script>steal()</script><p>second</p>\r
<img src="cid:logo"></body></html>\r
--RR\r
Content-Type: image/png\r
Content-ID: <logo>\r
\r
PNGDATA\r
--RR--\r
--XX\r
Content-Type: message/rfc822\r
Content-Disposition: attachment; filename="original.eml"\r
\r
From: z@example.com\r
Subject: inner\r
\r
inner body\r
--XX\r
Content-Type: application/octet-stream\r
\r
no name, not listed\r
--XX\r
Content-Type: application/octet-stream; name="blob.bin"\r
Content-Transfer-Encoding: base64\r
\r
AAECAw==\r
--XX--\r
"""


def test_html_only_mail_gets_text_from_its_visible_html() -> None:
    msg = parse(MIXED)
    assert msg.subject == "Grüße"
    assert msg.text == "Hello there\nsecond"  # no title, style or script
    assert msg.snippet == "Hello there second"
    assert msg.sender == Address("Shop", "shop@example.com")


def test_parts_are_classified_and_numbered_like_mailpit() -> None:
    msg = parse(MIXED)
    assert [(p.part_id, p.file_name, p.content_type) for p in msg.attachments] == [
        ("2", "original.eml", "message/rfc822"),
        ("4", "blob.bin", "application/octet-stream"),
    ]
    # the related image has no file name: Mailpit names it by its Content-ID
    assert [(p.part_id, p.file_name, p.content_id) for p in msg.inline] == [("1.2", "logo", "logo")]
    blob = find_part(MIXED, "4")
    assert blob is not None and blob.content == b"\x00\x01\x02\x03"
    assert blob.info.size == 4
    attached = find_part(MIXED, "2")
    assert attached is not None
    assert message_from_bytes(attached.content, policy=policy.default)["Subject"] == "inner"
    assert find_part(MIXED, "9") is None


def test_headers_are_keyed_like_go_and_unfolded() -> None:
    headers = parse(MIXED).headers
    assert headers["X-Long"] == ["first second"]
    assert headers["Mime-Version"] == ["1.0"]
    assert headers["Subject"] == ["=?utf-8?q?Gr=C3=BC=C3=9Fe?="]  # raw, as Mailpit shows it
    assert list(headers) == sorted(headers)
    assert canonical_key("MESSAGE-ID") == "Message-Id"


def test_envelope_recipients_missing_from_headers_become_bcc() -> None:
    raw = b"From: a@example.com\r\nTo: Bob <bob@example.com>\r\nCc: c@example.com\r\n\r\nhi\r\n"
    msg = parse(raw, "bounce@example.com", ["BOB@example.com", "c@example.com", "hidden@x.org"])
    assert msg.bcc == (Address("", "hidden@x.org"),)
    assert msg.return_path == "bounce@example.com"


def test_broken_headers_and_charsets_do_not_fail_the_message() -> None:
    raw = (
        b"From: not an address\r\nTo: , ,bob@example.com,\r\nCc: broken <<x@y>\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nh\xe9llo\r\n"
    )
    msg = parse(raw)
    assert msg.sender == Address("not an address", "")  # kept as a name, as Mailpit does
    assert msg.to == (Address("", "bob@example.com"),)
    assert msg.cc == ()
    assert msg.text == "h\ufffdllo\r\n"
    assert msg.date is None and msg.message_id == ""


def test_raw_utf8_headers_are_decoded() -> None:
    raw = "From: Jürgen <jürgen@bücher.example>\r\nSubject: Ваш заказ\r\n\r\nx\r\n".encode()
    msg = parse(raw)
    assert msg.sender == Address("Jürgen", "jürgen@bücher.example")
    assert msg.subject == "Ваш заказ"
    assert msg.headers["From"] == ["Jürgen <jürgen@bücher.example>"]


def test_snippet_prefers_html_and_is_cut_at_200_characters() -> None:
    assert snippet("plain  text\n\nhere", "") == "plain text here"
    assert snippet("ignored", "<p>from <i>html</i></p>") == "from html"
    long = snippet("word " * 100, "")
    assert len(long) == 203 and long.endswith("...")


def test_html_to_text_keeps_blocks_apart() -> None:
    assert html_to_text("<ul><li>one</li><li>two</li></ul>x<br>y") == "one\ntwo\nx\ny"
    assert html_to_text("<p>a &amp; b</p>") == "a & b"
