"""Mailpit's HTTP API v1 (``/api/v1``): the JSON shapes and field names Mailpit uses.

Differences, all deliberate: messages live in memory; the raw message is exactly what the
client sent (Mailpit prepends Return-Path, Message-Id and Bcc headers), so Bcc recipients
taken from the envelope appear only in the JSON; sending, releasing, tags editing, chaos
and the HTML/link/spam checks are not implemented.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from tempstack.servers.mail.message import Address, find_part
from tempstack.servers.mail.store import Captured, Mailbox

MAILBOX: web.AppKey[Mailbox] = web.AppKey("mailbox", Mailbox)
DEFAULT_LIMIT = 50
NOT_FOUND = "404 page not found"
# Served as downloads, never rendered: a part's HTML must not run in this origin.
_ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "text/xml",
        "application/xhtml+xml",
        "image/svg+xml",
        "application/xml",
        "text/xsl",
    }
)

routes = web.RouteTableDef()


def timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _addresses(addresses: tuple[Address, ...]) -> list[dict[str, str]]:
    return [a.as_json() for a in addresses]


def summary(c: Captured) -> dict[str, Any]:
    m = c.message
    return {
        "ID": c.id,
        "MessageID": m.message_id,
        "Read": c.read,
        "From": m.sender.as_json(),
        "To": _addresses(m.to),
        "Cc": _addresses(m.cc),
        "Bcc": _addresses(m.bcc),
        "ReplyTo": _addresses(m.reply_to),
        "Subject": m.subject,
        "Created": timestamp(c.created),
        "Tags": list(m.tags),
        "Username": c.username,
        "Size": len(c.raw),
        "Attachments": len(m.attachments),
        "Snippet": m.snippet,
    }


def full(c: Captured) -> dict[str, Any]:
    m = c.message
    links = [part.strip().strip("<>") for part in m.list_unsubscribe.split(",") if part.strip()]
    return {
        "ID": c.id,
        "MessageID": m.message_id,
        "From": m.sender.as_json(),
        "To": _addresses(m.to),
        "Cc": _addresses(m.cc),
        "Bcc": _addresses(m.bcc),
        "ReplyTo": _addresses(m.reply_to),
        "ReturnPath": m.return_path,
        "Subject": m.subject,
        "ListUnsubscribe": {
            "Header": m.list_unsubscribe,
            "Links": links,
            "Errors": "",
            "HeaderPost": m.list_unsubscribe_post,
        },
        "Date": timestamp(m.date or c.created),
        "Tags": list(m.tags),
        "Username": c.username,
        "Text": m.text,
        "HTML": m.html,
        "Size": len(c.raw),
        "Inline": [p.as_json() for p in m.inline],
        "Attachments": [p.as_json() for p in m.attachments],
    }


def text(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/plain")


def bad_request(message: str) -> web.Response:
    return text(message, 400)


def _int(request: web.Request, name: str, default: int) -> int:
    try:
        value = int(request.query.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def _listing(request: web.Request, found: list[Captured], mailbox: Mailbox) -> web.Response:
    start = _int(request, "start", 0)
    limit = _int(request, "limit", DEFAULT_LIMIT)
    page = found[start : start + limit]
    return web.json_response(
        {
            "total": len(mailbox),
            "unread": mailbox.unread,
            "count": len(page),
            "messages_count": len(found),
            "messages_unread": sum(not c.read for c in found),
            "start": start,
            "tags": mailbox.tags(),
            "messages": [summary(c) for c in page],
        }
    )


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    try:
        data = json.loads(await request.read() or b"null")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _ids(data: dict[str, Any] | None) -> list[str]:
    ids = (data or {}).get("IDs")
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def lookup(request: web.Request) -> Captured | web.Response:
    """The message the ``id`` path part names; ``latest`` is the newest (matching ?query)."""
    mailbox = request.app[MAILBOX]
    message_id = request.match_info["id"]
    if message_id == "latest":
        found = mailbox.latest(request.query.get("query", "").strip())
        return found if found is not None else text("Message not found", 404)
    captured = mailbox.get(message_id)
    return captured if captured is not None else text(NOT_FOUND, 404)


@routes.get("/api/v1/messages")
async def list_messages(request: web.Request) -> web.Response:
    mailbox = request.app[MAILBOX]
    return _listing(request, list(mailbox.newest_first()), mailbox)


@routes.delete("/api/v1/messages")
async def delete_messages(request: web.Request) -> web.Response:
    """Deletes the given IDs; with none (or no valid body) deletes all, as Mailpit does."""
    mailbox = request.app[MAILBOX]
    ids = _ids(await _json_body(request))
    removed = mailbox.delete(ids) if ids else mailbox.clear()
    print(f"deleted {removed} message(s)", flush=True)
    return text("ok")


@routes.put("/api/v1/messages")
async def set_read(request: web.Request) -> web.Response:
    """``{"Read": bool, "IDs": [...]}`` or ``{"Read": bool, "Search": "..."}``; neither: all."""
    mailbox = request.app[MAILBOX]
    data = await _json_body(request)
    if data is None:
        return bad_request("invalid JSON body")
    ids, search = _ids(data), str(data.get("Search") or "").strip()
    if ids and search:
        return bad_request("You may specify either IDs or a search query, not both")
    targets = [c.id for c in mailbox.search(search)] if search else (ids or None)
    mailbox.mark(targets, bool(data.get("Read")))
    return text("ok")


def _search_query(request: web.Request) -> str:
    """The ``query`` parameter; Mailpit answers 400 when it is missing or blank."""
    query = request.query.get("query", "").strip()
    if not query:
        raise web.HTTPBadRequest(text="Error: no search query")
    return query


@routes.get("/api/v1/search")
async def search(request: web.Request) -> web.Response:
    mailbox = request.app[MAILBOX]
    return _listing(request, mailbox.search(_search_query(request)), mailbox)


@routes.delete("/api/v1/search")
async def delete_search(request: web.Request) -> web.Response:
    mailbox = request.app[MAILBOX]
    query = _search_query(request)
    removed = mailbox.delete([c.id for c in mailbox.search(query)])
    print(f"deleted {removed} message(s) matching {query!r}", flush=True)
    return text("ok")


@routes.get("/api/v1/message/{id}")
async def get_message(request: web.Request) -> web.Response:
    found = lookup(request)
    if isinstance(found, web.Response):
        return found
    found.read = True  # reading a message marks it read, as in Mailpit
    return web.json_response(full(found))


@routes.get("/api/v1/message/{id}/headers")
async def get_headers(request: web.Request) -> web.Response:
    found = lookup(request)
    if isinstance(found, web.Response):
        return found
    return web.json_response(found.message.headers)


@routes.get("/api/v1/message/{id}/raw")
async def get_raw(request: web.Request) -> web.Response:
    found = lookup(request)
    if isinstance(found, web.Response):
        return found
    response = web.Response(body=found.raw, content_type="text/plain", charset="utf-8")
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.query.get("dl") == "1":
        response.headers["Content-Disposition"] = f'attachment; filename="{found.id}.eml"'
    return response


@routes.get("/api/v1/message/{id}/part/{part_id}")
async def get_part(request: web.Request) -> web.Response:
    """A part's decoded content with its own Content-Type (active types as downloads)."""
    found = lookup(request)
    if isinstance(found, web.Response):
        return found
    part = find_part(found.raw, request.match_info["part_id"])
    if part is None:
        return text(NOT_FOUND, 404)
    content_type, disposition = part.info.content_type, "inline"
    if content_type in _ACTIVE_TYPES:
        content_type, disposition = "application/octet-stream", "attachment"
    elif part.charset:
        content_type = f"{content_type}; charset={part.charset}"
    return web.Response(
        body=part.content,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'{disposition}; filename="{quote(part.info.file_name)}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@routes.get("/api/v1/tags")
async def get_tags(request: web.Request) -> web.Response:
    return web.json_response(request.app[MAILBOX].tags())


@routes.get("/api/v1/info")
async def info(request: web.Request) -> web.Response:
    mailbox = request.app[MAILBOX]
    stats = mailbox.stats
    tags: dict[str, int] = {}
    for c in mailbox.newest_first():
        for tag in c.message.tags:
            tags[tag] = tags.get(tag, 0) + 1
    return web.json_response(
        {
            "Version": "tempstack",
            "LatestVersion": "",
            "Database": "",
            "DatabaseSize": 0,
            "Messages": len(mailbox),
            "Unread": mailbox.unread,
            "Tags": tags,
            "RuntimeStats": {
                "Uptime": int(time.monotonic() - stats.started),
                "MessagesDeleted": stats.deleted + stats.dropped,
                "SMTPAccepted": stats.accepted,
                "SMTPAcceptedSize": stats.accepted_size,
                "SMTPRejected": 0,
                "SMTPIgnored": 0,
            },
        }
    )
