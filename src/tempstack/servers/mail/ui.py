"""A small server-rendered web UI: the message list, one message, its HTML in a sandbox.

Plain HTML without scripts or external assets. Everything a message controls is escaped;
an HTML body is shown only inside ``<iframe sandbox>`` from ``/view/{ID}.html``, which
also carries a sandboxing Content-Security-Policy (no scripts, no remote loads) so it stays
inert when opened directly. ``cid:`` references are pointed at the inline parts.
"""

from __future__ import annotations

import re
from html import escape
from urllib.parse import urlencode

from aiohttp import web

from tempstack.servers.mail.api import MAILBOX, NOT_FOUND, text, timestamp
from tempstack.servers.mail.message import Address
from tempstack.servers.mail.store import Captured

PAGE = 50
_ID = "{id:[A-Za-z0-9]+}"
_CID = re.compile(r"cid:([^\"'\s)>]+)", re.IGNORECASE)
_HTML_CSP = (
    "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; font-src data:"
)
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{background:#2d3e50;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:12px 16px}
table{border-collapse:collapse;width:100%}
td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
tr.unread td{font-weight:600}
.muted{color:#666}
pre{white-space:pre-wrap;background:#f6f6f6;padding:8px}
iframe{width:100%;height:60vh;border:1px solid #ccc}
form.inline{display:inline}
"""

routes = web.RouteTableDef()


_UI_CSP = "default-src 'self'; style-src 'unsafe-inline'; script-src 'none'"


def _page(title: str, body: str, query: str = "") -> web.Response:
    html = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        "<header><a href='/'>tempstack mail</a>"
        "<form method='get' action='/'>"
        f"<input type='search' name='q' value='{escape(query)}' placeholder='search'>"
        "</form></header>"
        f"<main>{body}</main></body></html>"
    )
    return web.Response(
        text=html,
        content_type="text/html",
        headers={"Content-Security-Policy": _UI_CSP},
    )


def _people(addresses: tuple[Address, ...]) -> str:
    return escape(", ".join(str(a) for a in addresses))


def _row(c: Captured) -> str:
    m = c.message
    clip = " 📎" if m.attachments else ""
    return (
        f"<tr class='{'read' if c.read else 'unread'}'>"
        f"<td>{escape(str(m.sender))}</td><td>{_people(m.to)}</td>"
        f"<td><a href='/view/{c.id}'>{escape(m.subject) or '(no subject)'}</a>{clip}"
        f"<div class='muted'>{escape(m.snippet)}</div></td>"
        f"<td class='muted'>{escape(timestamp(c.created))}</td></tr>"
    )


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    mailbox = request.app[MAILBOX]
    query = request.query.get("q", "").strip()
    found = mailbox.search(query) if query else list(mailbox.newest_first())
    try:
        start = max(0, int(request.query.get("start", "0")))
    except ValueError:
        start = 0
    rows = "".join(_row(c) for c in found[start : start + PAGE])
    nav = []
    if start > 0:
        nav.append(
            f"<a href='/?{urlencode({'q': query, 'start': max(0, start - PAGE)})}'>newer</a>"
        )
    if start + PAGE < len(found):
        nav.append(f"<a href='/?{urlencode({'q': query, 'start': start + PAGE})}'>older</a>")
    body = (
        f"<p>{len(found)} message(s){' matching ' + escape(repr(query)) if query else ''}, "
        f"{mailbox.unread} unread of {len(mailbox)}. "
        "<form class='inline' method='post' action='/delete-all'>"
        "<button>Delete all</button></form></p>"
        "<table><tr><th>From</th><th>To</th><th>Subject</th><th>Received</th></tr>"
        f"{rows}</table><p>{' '.join(nav)}</p>"
    )
    return _page("tempstack mail", body, query)


def _find(request: web.Request) -> Captured | None:
    mailbox = request.app[MAILBOX]
    message_id = request.match_info["id"]
    return mailbox.latest() if message_id == "latest" else mailbox.get(message_id)


@routes.get(f"/view/{_ID}")
async def view(request: web.Request) -> web.Response:
    c = _find(request)
    if c is None:
        return text(NOT_FOUND, 404)
    c.read = True
    m = c.message
    fields = [
        ("From", escape(str(m.sender))),
        ("To", _people(m.to)),
        ("Cc", _people(m.cc)),
        ("Bcc", _people(m.bcc)),
        ("Reply-To", _people(m.reply_to)),
        ("Date", escape(timestamp(m.date or c.created))),
        ("Size", f"{len(c.raw)} bytes"),
    ]
    heads = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in fields if v)
    parts = "".join(
        f"<li><a href='/api/v1/message/{c.id}/part/{escape(p.part_id)}'>"
        f"{escape(p.file_name or p.part_id)}</a> "
        f"<span class='muted'>{escape(p.content_type)}, {p.size} bytes</span></li>"
        for p in (*m.attachments, *m.inline)
    )
    body = [
        f"<h2>{escape(m.subject) or '(no subject)'}</h2><table>{heads}</table>",
        f"<p><a href='/api/v1/message/{c.id}/raw'>raw</a> · "
        f"<a href='/api/v1/message/{c.id}/headers'>headers</a> · "
        f"<form class='inline' method='post' action='/view/{c.id}/delete'>"
        "<button>Delete</button></form></p>",
    ]
    if parts:
        body.append(f"<h3>Attachments</h3><ul>{parts}</ul>")
    if m.html:
        body.append(
            f"<h3>HTML</h3><iframe sandbox referrerpolicy='no-referrer' "
            f"src='/view/{c.id}.html' title='HTML body'></iframe>"
        )
    if m.text:
        body.append(f"<h3>Text</h3><pre>{escape(m.text)}</pre>")
    return _page(m.subject or "(no subject)", "".join(body))


@routes.get(f"/view/{_ID}.html")
async def view_html(request: web.Request) -> web.Response:
    c = _find(request)
    if c is None:
        return text(NOT_FOUND, 404)
    parts = {p.content_id: p.part_id for p in c.message.inline if p.content_id}

    def link(match: re.Match[str]) -> str:
        part_id = parts.get(match[1])
        return f"/api/v1/message/{c.id}/part/{part_id}" if part_id else match[0]

    return web.Response(
        text=_CID.sub(link, c.message.html),
        content_type="text/html",
        headers={
            "Content-Security-Policy": _HTML_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@routes.post(f"/view/{_ID}/delete")
async def delete(request: web.Request) -> web.Response:
    request.app[MAILBOX].delete([request.match_info["id"]])
    raise web.HTTPSeeOther("/")


@routes.post("/delete-all")
async def delete_all(request: web.Request) -> web.Response:
    request.app[MAILBOX].clear()
    raise web.HTTPSeeOther("/")
