"""The ``mail`` kind through the engine: smtplib and aiosmtplib in, Mailpit's API v1 out."""

from __future__ import annotations

import asyncio
import os
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx

import tempstack

STACK = """
[stack]
name = "mail"

[services.mail]
kind = "mail"
{extra}
"""

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))  # binary, every byte value


@contextmanager
def mail_stack(write_stack: Any, extra: str = "") -> Iterator[dict[str, str]]:
    with tempstack.Stack.load(write_stack(STACK.format(extra=extra))).up() as run:
        yield run.env


def api(env: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=env["MAIL_API_URL"], timeout=10)


def send(env: dict[str, str], msg: EmailMessage, to: list[str] | None = None) -> None:
    with smtplib.SMTP(env["MAIL_SMTP_HOST"], int(env["MAIL_SMTP_PORT"]), timeout=10) as smtp:
        smtp.send_message(msg, to_addrs=to)


def simple(
    subject: str, to: str = "bob@example.com", sender: str = "app@example.com"
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg.set_content(f"body of {subject}\n")
    return msg


def rich_message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Shop <shop@example.com>"
    msg["To"] = "Ann Buyer <ann@example.com>"
    msg["Subject"] = "Your order #42"
    msg["Message-ID"] = "<order-42@shop.example.com>"
    msg["X-Tags"] = "orders, receipts"
    # a line starting with a dot checks SMTP dot-stuffing both ways
    msg.set_content("Thanks for your order.\n.hidden dot line\nTotal: 10 EUR\n")
    msg.add_alternative(
        '<p>Thanks for your <b>order</b>.</p><img src="cid:logo@shop">', subtype="html"
    )
    html_part = msg.get_body(preferencelist=("html",))
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(
        PNG, "image", "png", cid="<logo@shop>", filename="logo.png", disposition="inline"
    )
    msg.add_attachment(b"id,total\n42,10\n", maintype="text", subtype="csv", filename="order.csv")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="photo.png")
    return msg


def test_smtplib_message_with_html_attachments_and_inline_image(write_stack) -> None:  # type: ignore[no-untyped-def]
    msg = rich_message()
    sent = msg.as_bytes(policy=policy.SMTP)
    with mail_stack(write_stack) as env, api(env) as http:
        assert set(env) >= {"MAIL_SMTP_HOST", "MAIL_SMTP_PORT", "MAIL_SMTP_URL", "MAIL_API_URL"}
        assert env["MAIL_SMTP_URL"] == f"smtp://{env['MAIL_SMTP_HOST']}:{env['MAIL_SMTP_PORT']}"
        with smtplib.SMTP(env["MAIL_SMTP_HOST"], int(env["MAIL_SMTP_PORT"])) as smtp:
            code, features = smtp.ehlo()
            assert code == 250
            for feature in (b"8BITMIME", b"SMTPUTF8", b"AUTH LOGIN PLAIN"):
                assert feature in features
            smtp.sendmail("bounces@shop.example.com", ["ann@example.com"], sent)

        listing = http.get("/messages").json()
        assert (listing["total"], listing["unread"], listing["messages_count"]) == (1, 1, 1)
        assert listing["tags"] == ["orders", "receipts"]
        summary = listing["messages"][0]
        assert summary["From"] == {"Name": "Shop", "Address": "shop@example.com"}
        assert summary["To"] == [{"Name": "Ann Buyer", "Address": "ann@example.com"}]
        assert summary["Subject"] == "Your order #42"
        assert summary["MessageID"] == "order-42@shop.example.com"
        assert summary["Attachments"] == 2 and summary["Size"] == len(sent)
        assert summary["Read"] is False
        assert summary["Snippet"] == "Thanks for your order."

        full = http.get(f"/message/{summary['ID']}").json()
        assert full["Text"].replace("\r\n", "\n") == (
            "Thanks for your order.\n.hidden dot line\nTotal: 10 EUR\n"
        )
        assert '<img src="cid:logo@shop">' in full["HTML"]
        assert full["ReturnPath"] == "bounces@shop.example.com"
        assert full["Bcc"] == [] and full["Cc"] == []
        attachments = {a["FileName"]: a for a in full["Attachments"]}
        assert set(attachments) == {"order.csv", "photo.png"}
        assert attachments["order.csv"]["ContentType"] == "text/csv"
        assert attachments["photo.png"]["Size"] == len(PNG)
        (inline,) = full["Inline"]
        assert (inline["FileName"], inline["ContentID"]) == ("logo.png", "logo@shop")
        # part ids are positions in the MIME tree, as Mailpit (enmime) numbers them
        assert [inline["PartID"], *(a["PartID"] for a in full["Attachments"])] == [
            "1.2.2",
            "2",
            "3",
        ]

        for part in (*full["Attachments"], inline):
            got = http.get(f"/message/{summary['ID']}/part/{part['PartID']}")
            assert got.status_code == 200
            assert got.headers["content-type"].split(";")[0] == part["ContentType"]
        csv = http.get(f"/message/{summary['ID']}/part/{attachments['order.csv']['PartID']}")
        assert csv.content == b"id,total\n42,10\n"
        png = http.get(f"/message/{summary['ID']}/part/{attachments['photo.png']['PartID']}")
        assert png.content == PNG
        assert http.get(f"/message/{summary['ID']}/part/{inline['PartID']}").content == PNG

        raw = http.get(f"/message/{summary['ID']}/raw")
        assert raw.content == sent  # byte for byte, dot-stuffing undone
        assert raw.headers["content-type"].startswith("text/plain")

        headers = http.get(f"/message/{summary['ID']}/headers").json()
        assert headers["Subject"] == ["Your order #42"]
        assert headers["Message-Id"] == ["<order-42@shop.example.com>"]
        assert headers["X-Tags"] == ["orders, receipts"]

        # reading marked it read
        after = http.get("/messages").json()
        assert after["unread"] == 0 and after["messages"][0]["Read"] is True


def test_unicode_subjects_and_addresses(write_stack) -> None:  # type: ignore[no-untyped-def]
    with mail_stack(write_stack) as env, api(env) as http:
        # encoded words (RFC 2047) in an ASCII message
        encoded = simple("Grüße aus Köln ✓", to="Zoë Ünal <zoe@example.com>")
        send(env, encoded)
        # raw UTF-8 headers and addresses (RFC 6531 SMTPUTF8); smtplib asks for it itself
        utf8 = EmailMessage(policy=policy.SMTPUTF8)
        utf8["From"] = "Jürgen <jürgen@bücher.example>"
        utf8["To"] = "用户@例子.example"
        utf8["Subject"] = "Ваш заказ"
        utf8.set_content("Привет, мир\n")
        send(env, utf8)

        newest, oldest = http.get("/messages").json()["messages"]
        assert oldest["Subject"] == "Grüße aus Köln ✓"
        assert oldest["To"] == [{"Name": "Zoë Ünal", "Address": "zoe@example.com"}]
        assert newest["Subject"] == "Ваш заказ"
        assert newest["From"] == {"Name": "Jürgen", "Address": "jürgen@bücher.example"}
        assert newest["To"] == [{"Name": "", "Address": "用户@例子.example"}]
        assert http.get(f"/message/{newest['ID']}").json()["Text"].strip() == "Привет, мир"
        found = http.get("/search", params={"query": "subject:заказ"}).json()
        assert [m["ID"] for m in found["messages"]] == [newest["ID"]]


def test_cc_and_bcc_from_the_envelope(write_stack) -> None:  # type: ignore[no-untyped-def]
    msg = simple("team update", to="dev@example.com")
    msg["Cc"] = "Lead <lead@example.com>"
    with mail_stack(write_stack) as env, api(env) as http:
        send(env, msg, to=["dev@example.com", "lead@example.com", "audit@example.com"])
        (summary,) = http.get("/messages").json()["messages"]
        assert summary["Cc"] == [{"Name": "Lead", "Address": "lead@example.com"}]
        assert summary["Bcc"] == [{"Name": "", "Address": "audit@example.com"}]
        raw = http.get(f"/message/{summary['ID']}/raw").content
        assert b"audit@example.com" not in raw  # a blind copy stays blind in the source
        assert http.get("/search", params={"query": "bcc:audit"}).json()["messages_count"] == 1
        assert http.get("/search", params={"query": "cc:lead"}).json()["messages_count"] == 1


def test_aiosmtplib_with_auth(write_stack) -> None:  # type: ignore[no-untyped-def]
    msg = simple("welcome", to="new.user@example.com")
    msg.add_alternative("<h1>Welcome!</h1><p>Confirm <a href='https://x/c'>here</a></p>", "html")

    async def deliver(env: dict[str, str]) -> None:
        for user in ("app-user", "someone-else"):  # any credentials are accepted
            await aiosmtplib.send(
                msg,
                hostname=env["MAIL_SMTP_HOST"],
                port=int(env["MAIL_SMTP_PORT"]),
                username=user,
                password="anything",
                start_tls=False,
            )

    with mail_stack(write_stack) as env, api(env) as http:
        asyncio.run(deliver(env))
        messages = http.get("/messages").json()["messages"]
        assert [m["Username"] for m in messages] == ["someone-else", "app-user"]
        full = http.get("/message/latest").json()
        assert full["Subject"] == "welcome"
        assert "<h1>Welcome!</h1>" in full["HTML"]
        assert full["Text"].strip() == "body of welcome"


DJANGO_SENDER = r"""
import os, django
from django.conf import settings

settings.configure(
    EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
    EMAIL_HOST=os.environ["MAIL_SMTP_HOST"],
    EMAIL_PORT=int(os.environ["MAIL_SMTP_PORT"]),
    EMAIL_HOST_USER="shop",
    EMAIL_HOST_PASSWORD="secret",
    DEFAULT_FROM_EMAIL="Shop <orders@shop.example.com>",
)
django.setup()
from django.core.mail import EmailMultiAlternatives

mail = EmailMultiAlternatives(
    "Order #7 confirmed", "Thank you, Ann.", to=["Ann <ann@example.com>"],
    bcc=["audit@shop.example.com"],
)
mail.attach_alternative("<p>Thank you, <b>Ann</b>.</p>", "text/html")
mail.attach("invoice.csv", "item,price\nmug,12\n", "text/csv")
assert mail.send() == 1
"""


def test_django_mail_as_an_application_sends_it(write_stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Django's SMTP backend, configured from the exports as an app would, in its own process."""
    script = tmp_path / "send_with_django.py"
    script.write_text(DJANGO_SENDER)
    with mail_stack(write_stack) as env, api(env) as http:
        done = subprocess.run(
            [sys.executable, str(script)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        full = http.get("/message/latest").json()
        assert full["Subject"] == "Order #7 confirmed"
        assert full["From"] == {"Name": "Shop", "Address": "orders@shop.example.com"}
        assert [b["Address"] for b in full["Bcc"]] == ["audit@shop.example.com"]
        assert "<b>Ann</b>" in full["HTML"] and full["Text"].strip() == "Thank you, Ann."
        (attachment,) = full["Attachments"]
        assert attachment["FileName"] == "invoice.csv"
        part = http.get(f"/message/{full['ID']}/part/{attachment['PartID']}")
        # text parts travel with CRLF line ends (SMTP's canonical form), as Mailpit serves them
        assert part.text.splitlines() == ["item,price", "mug,12"]


def test_search_latest_delete_and_errors(write_stack) -> None:  # type: ignore[no-untyped-def]
    with mail_stack(write_stack) as env, api(env) as http:
        assert http.get("/message/latest").status_code == 404
        send(env, simple("Password reset", to="ann@example.com", sender="auth@example.com"))
        send(env, simple("Invoice March", to="bob@example.com", sender="billing@example.com"))
        send(env, simple("Invoice April", to="ann@example.com", sender="billing@example.com"))

        def ids(query: str) -> list[str]:
            found = http.get("/search", params={"query": query}).json()
            return [m["Subject"] for m in found["messages"]]

        assert ids("to:ann@example.com") == ["Invoice April", "Password reset"]
        assert ids("from:billing") == ["Invoice April", "Invoice March"]
        assert ids('subject:"invoice april"') == ["Invoice April"]
        assert ids("invoice -april") == ["Invoice March"]
        assert ids("body of password") == ["Password reset"]  # plain words, all must match
        assert ids("to:ann !from:auth") == ["Invoice April"]
        assert ids("nothing-like-this") == []
        assert http.get("/search").status_code == 400

        latest = http.get("/message/latest").json()
        assert latest["Subject"] == "Invoice April"
        latest_march = http.get("/message/latest", params={"query": "march"}).json()
        assert latest_march["Subject"] == "Invoice March"
        assert http.get("/message/latest/raw").content.startswith(b"From: billing@example.com")

        missing = http.get("/message/NoSuchMessageId1234567")
        assert (missing.status_code, missing.text) == (404, "404 page not found")
        assert http.get("/message/NoSuchMessageId1234567/raw").status_code == 404
        assert http.get(f"/message/{latest['ID']}/part/9").status_code == 404

        # read flags
        listing = http.get("/messages").json()
        assert listing["unread"] == 1  # getting April and March marked them read
        assert http.put("/messages", json={"Read": False}).text == "ok"
        assert http.get("/messages").json()["unread"] == 3
        http.put("/messages", json={"Read": True, "Search": "from:billing"})
        assert ids("is:unread") == ["Password reset"]

        # delete one, then by search, then all
        assert http.request("DELETE", "/messages", json={"IDs": [latest["ID"]]}).text == "ok"
        assert http.get(f"/message/{latest['ID']}").status_code == 404
        assert http.get("/messages").json()["total"] == 2
        assert http.delete("/search", params={"query": "invoice"}).text == "ok"
        assert ids("invoice") == []
        assert http.get("/messages").json()["total"] == 1
        assert http.delete("/messages").text == "ok"
        assert http.get("/messages").json() | {"tags": []} == {
            "total": 0,
            "unread": 0,
            "count": 0,
            "messages_count": 0,
            "messages_unread": 0,
            "start": 0,
            "tags": [],
            "messages": [],
        }


def test_paging_and_max_messages_drops_the_oldest(write_stack) -> None:  # type: ignore[no-untyped-def]
    with mail_stack(write_stack, "max_messages = 3") as env, api(env) as http:
        send(env, simple("m1"))
        first = http.get("/message/latest").json()["ID"]
        for n in range(2, 6):
            send(env, simple(f"m{n}"))
        listing = http.get("/messages").json()
        assert listing["total"] == 3
        assert [m["Subject"] for m in listing["messages"]] == ["m5", "m4", "m3"]
        assert http.get(f"/message/{first}").status_code == 404
        page = http.get("/messages", params={"start": 1, "limit": 1}).json()
        assert (page["start"], page["count"], page["messages_count"]) == (1, 1, 3)
        assert [m["Subject"] for m in page["messages"]] == ["m4"]


def test_web_ui_lists_and_shows_messages_without_running_their_html(write_stack) -> None:  # type: ignore[no-untyped-def]
    msg = simple("<script>alert('subject')</script>", sender="Eve <eve@example.com>")
    msg.add_alternative("<p>hi</p><script>alert('body')</script>", subtype="html")
    msg.add_attachment("<script>x</script>", subtype="html", filename="page.html")
    with (
        mail_stack(write_stack) as env,
        api(env) as http,
        httpx.Client(base_url=env["MAIL_URL"]) as ui,
    ):
        send(env, msg)
        message_id = http.get("/messages").json()["messages"][0]["ID"]

        index = ui.get("/")
        assert index.status_code == 200
        assert "&lt;script&gt;alert(&#x27;subject&#x27;)&lt;/script&gt;" in index.text
        assert "<script>" not in index.text
        assert f"/view/{message_id}" in index.text

        page = ui.get(f"/view/{message_id}")
        assert "<script>" not in page.text
        assert f"<iframe sandbox referrerpolicy='no-referrer' src='/view/{message_id}.html'" in (
            page.text
        )
        assert "page.html" in page.text

        body = ui.get(f"/view/{message_id}.html")
        assert body.headers["content-security-policy"].startswith("sandbox;")
        assert "<script>alert('body')</script>" in body.text  # inert: sandboxed, no scripts

        # an HTML attachment is a download, never rendered in this origin
        (attachment,) = http.get(f"/message/{message_id}").json()["Attachments"]
        part = http.get(f"/message/{message_id}/part/{attachment['PartID']}")
        assert part.headers["content-type"] == "application/octet-stream"
        assert part.headers["content-disposition"].startswith("attachment;")

        assert ui.get("/no/such/page").status_code == 404
        deleted = ui.post(f"/view/{message_id}/delete")
        assert deleted.status_code == 303
        assert http.get("/messages").json()["total"] == 0
