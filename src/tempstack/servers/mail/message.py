"""A captured message parsed with the stdlib ``email`` package (``policy.default``).

What Mailpit's API reports is derived here once, when the message arrives: addresses,
subject, the text and HTML bodies, and the attachment and inline parts with Mailpit's
dotted part ids ("1", "1.2", ...: the position in the MIME tree, as enmime numbers them).
The raw bytes are kept unchanged; a part's content is decoded again only when asked for.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import cast

from tempstack.servers.mail.htmltext import html_to_text

SNIPPET_LENGTH = 200  # Mailpit's snippet limit (before "...")

_PARSER = BytesParser(policy=policy.default)
_FOLD = re.compile(r"\r?\n[ \t]+")
_SPACE = re.compile(r"\s+")


def clean(value: str) -> str:
    """``value`` with raw UTF-8 header bytes (SMTPUTF8 mail) decoded.

    The bytes parser keeps non-ASCII header bytes as surrogate escapes; subjects are decoded
    by the header registry, but addresses and raw values are not.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


@dataclass(frozen=True)
class Address:
    name: str
    address: str

    def as_json(self) -> dict[str, str]:
        return {"Name": self.name, "Address": self.address}

    def __str__(self) -> str:
        return (
            f"{self.name} <{self.address}>"
            if self.name and self.address
            else self.name or self.address
        )


NO_ADDRESS = Address("", "")


@dataclass(frozen=True)
class PartInfo:
    """An attachment or inline part, as Mailpit's ``Attachment`` object describes it."""

    part_id: str
    file_name: str
    content_type: str  # the media type only, e.g. "image/png"
    content_id: str
    size: int
    md5: str
    sha1: str
    sha256: str

    def as_json(self) -> dict[str, object]:
        return {
            "PartID": self.part_id,
            "FileName": self.file_name,
            "ContentType": self.content_type,
            "ContentID": self.content_id,
            "Size": self.size,
            "Checksums": {"MD5": self.md5, "SHA1": self.sha1, "SHA256": self.sha256},
        }


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str
    subject: str
    sender: Address  # the From header ("From" is Mailpit's name for it)
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]  # the Bcc header plus envelope recipients named in no header
    reply_to: tuple[Address, ...]
    return_path: str
    date: datetime | None
    text: str
    html: str
    inline: tuple[PartInfo, ...]
    attachments: tuple[PartInfo, ...]
    tags: tuple[str, ...]
    list_unsubscribe: str
    list_unsubscribe_post: str
    headers: dict[str, list[str]] = field(repr=False)
    snippet: str = ""
    search_text: str = field(default="", repr=False)  # lowercased, for plain-word search


def _addresses(msg: EmailMessage, name: str) -> tuple[Address, ...]:
    """The header's mailboxes; like Go's parser (Mailpit's), only those with an ``@``."""
    found: list[Address] = []
    for value in msg.get_all(name) or []:
        parsed: Sequence[HeaderAddress] = getattr(value, "addresses", ())
        pairs = [(clean(a.display_name), clean(a.addr_spec)) for a in parsed]
        if not any("@" in address for _, address in pairs):  # the registry gave up
            pairs = getaddresses([clean(str(value))])
        found.extend(Address(n, a) for n, a in pairs if "@" in a)
    return tuple(found)


def _header(msg: EmailMessage, name: str) -> str:
    value = msg.get(name)
    return "" if value is None else clean(str(value)).strip()


def canonical_key(name: str) -> str:
    """Go's canonical MIME header key ("Message-Id"), which Mailpit's headers JSON uses."""
    return "-".join(word[:1].upper() + word[1:].lower() for word in name.split("-"))


def _raw_headers(msg: EmailMessage) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        unfolded = _FOLD.sub(" ", clean(str(value))).strip()
        headers.setdefault(canonical_key(name), []).append(unfolded)
    return dict(sorted(headers.items()))


def _leaves(part: EmailMessage, part_id: str, root: bool) -> Iterator[tuple[str, EmailMessage]]:
    """Leaf parts with their ids; ``message/rfc822`` attachments are leaves too."""
    if part.get_content_maintype() != "multipart":
        yield part_id, part
        return
    for index, child in enumerate(part.iter_parts(), start=1):
        child_id = str(index) if root else f"{part_id}.{index}"
        yield from _leaves(cast(EmailMessage, child), child_id, False)


def part_bytes(part: EmailMessage) -> bytes:
    """A leaf part's decoded content (an attached message as its own bytes)."""
    if part.get_content_maintype() == "message" and part.is_multipart():
        inner = part.get_payload(0)
        if isinstance(inner, EmailMessage):
            return inner.as_bytes(policy=policy.SMTPUTF8)
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _body_text(part: EmailMessage | None) -> str:
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):  # an unknown or wrong charset
        return part_bytes(part).decode("utf-8", "replace")
    return content if isinstance(content, str) else ""


def _part_info(part_id: str, part: EmailMessage, content: bytes) -> PartInfo:
    content_id = _header(part, "Content-ID").strip("<>")
    return PartInfo(
        part_id=part_id,
        file_name=clean(part.get_filename() or "") or content_id,
        content_type=part.get_content_type(),
        content_id=content_id,
        size=len(content),
        md5=hashlib.md5(content).hexdigest(),
        sha1=hashlib.sha1(content).hexdigest(),
        sha256=hashlib.sha256(content).hexdigest(),
    )


def _classify(
    msg: EmailMessage, bodies: tuple[EmailMessage | None, ...]
) -> tuple[list[PartInfo], list[PartInfo]]:
    """Split the non-body leaves into (inline, attachments) the way Mailpit (enmime) does.

    Attachments: ``Content-Disposition: attachment``, or ``application/octet-stream`` not
    marked inline. Inline: ``Content-Disposition: inline``, or no disposition at all (images
    of a ``multipart/related`` HTML body) unless plain text or HTML. Only parts with a file
    name or a Content-ID are listed, and breadth first, as in Mailpit.
    """
    inline: list[PartInfo] = []
    attachments: list[PartInfo] = []
    leaves = sorted(_leaves(msg, "0", True), key=lambda leaf: leaf[0].count("."))
    for part_id, part in leaves:
        if any(part is body for body in bodies):
            continue
        if not (part.get_filename() or part.get("Content-ID")):
            continue
        disposition = part.get_content_disposition()
        kind = part.get_content_type()
        if disposition == "attachment" or (
            kind == "application/octet-stream" and disposition != "inline"
        ):
            attachments.append(_part_info(part_id, part, part_bytes(part)))
        elif disposition == "inline" or kind not in ("text/plain", "text/html"):
            inline.append(_part_info(part_id, part, part_bytes(part)))
    return inline, attachments


def snippet(text: str, html: str) -> str:
    """Mailpit's snippet: the HTML's visible text if there is HTML, else the text, folded."""
    source = html_to_text(html) if html.strip() else text
    folded = _SPACE.sub(" ", source.replace("\ufeff", " ")).strip()
    return folded if len(folded) <= SNIPPET_LENGTH else folded[:SNIPPET_LENGTH] + "..."


def _date(msg: EmailMessage) -> datetime | None:
    value = msg.get("Date")
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse(raw: bytes, mail_from: str = "", rcpt_tos: Sequence[str] = ()) -> ParsedMessage:
    """Everything the API reports about ``raw``, received from ``mail_from`` for ``rcpt_tos``.

    Envelope recipients that no To, Cc or Bcc header names are the message's blind copies;
    Mailpit adds them to Bcc (by rewriting the message), here they are added to ``bcc`` only
    and the raw message stays exactly as it was sent.
    """
    msg = _PARSER.parsebytes(raw)
    to, cc = _addresses(msg, "To"), _addresses(msg, "Cc")
    bcc = list(_addresses(msg, "Bcc"))
    named = {a.address.lower() for a in (*to, *cc, *bcc)}
    for rcpt in rcpt_tos:
        if rcpt.lower() not in named:
            named.add(rcpt.lower())
            bcc.append(Address("", rcpt))
    headers = _raw_headers(msg)
    senders = _addresses(msg, "From")
    # an unparsable From is kept as a name, as Mailpit does
    sender = senders[0] if senders else Address(headers.get("From", [""])[0], "")

    text_part = cast("EmailMessage | None", msg.get_body(preferencelist=("plain",)))
    html_part = cast("EmailMessage | None", msg.get_body(preferencelist=("html",)))
    html, text = _body_text(html_part), _body_text(text_part)
    if not text and html:
        text = html_to_text(html)  # as enmime does for HTML-only mail
    inline, attachments = _classify(msg, (text_part, html_part))

    subject = _header(msg, "Subject")
    unsubscribe = _header(msg, "List-Unsubscribe")
    reply_to = _addresses(msg, "Reply-To")
    tags = sorted({t.strip() for t in _header(msg, "X-Tags").split(",") if t.strip()})
    return_path = mail_from or _header(msg, "Return-Path").strip("<>") or sender.address
    search_text = " ".join(
        [
            subject,
            *(str(a) for a in (sender, *to, *cc, *bcc, *reply_to)),
            text,
            html_to_text(html) if html else "",
            *(p.file_name for p in (*inline, *attachments)),
        ]
    ).lower()
    return ParsedMessage(
        message_id=_header(msg, "Message-ID").strip("<>"),
        subject=subject,
        sender=sender,
        to=to,
        cc=cc,
        bcc=tuple(bcc),
        reply_to=reply_to,
        return_path=return_path,
        date=_date(msg),
        text=text,
        html=html,
        inline=tuple(inline),
        attachments=tuple(attachments),
        tags=tuple(tags),
        list_unsubscribe=unsubscribe,
        list_unsubscribe_post=_header(msg, "List-Unsubscribe-Post"),
        headers=headers,
        snippet=snippet(text, html),
        search_text=search_text,
    )


def unparsable(raw: bytes, mail_from: str, rcpt_tos: Sequence[str]) -> ParsedMessage:
    """What is known of a message the ``email`` package failed on: a catcher keeps it anyway."""
    text = raw.decode("utf-8", "replace")
    return ParsedMessage(
        message_id="",
        subject="",
        sender=Address("", mail_from) if "@" in mail_from else NO_ADDRESS,
        to=(),
        cc=(),
        bcc=tuple(Address("", r) for r in rcpt_tos),
        reply_to=(),
        return_path=mail_from,
        date=None,
        text=text,
        html="",
        inline=(),
        attachments=(),
        tags=(),
        list_unsubscribe="",
        list_unsubscribe_post="",
        headers={},
        snippet=snippet(text, ""),
        search_text=text.lower(),
    )


@dataclass(frozen=True)
class PartContent:
    info: PartInfo
    charset: str  # of a text part, "" when none is declared
    content: bytes


def find_part(raw: bytes, part_id: str) -> PartContent | None:
    """The leaf part ``part_id`` of ``raw`` (any leaf, bodies included) and its content."""
    msg = _PARSER.parsebytes(raw)
    for leaf_id, part in _leaves(msg, "0", True):
        if leaf_id == part_id:
            content = part_bytes(part)
            charset = part.get_content_charset() or ""
            return PartContent(_part_info(leaf_id, part, content), charset, content)
    return None
