"""The provider's HTML: plain pages with inline CSS and no external assets or scripts.

Rendered with Flask's Jinja, which escapes every value (client ids, usernames and error
descriptions all come from requests).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import render_template_string
from markupsafe import Markup

_LAYOUT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; background: #f4f5f7; margin: 0; }
main { max-width: 22rem; margin: 4rem auto; background: #fff; padding: 2rem;
       border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.15); }
h1 { font-size: 1.4rem; margin-top: 0; }
label { display: block; margin-top: 1rem; font-weight: 600; }
input { width: 100%; box-sizing: border-box; padding: .5rem; margin-top: .25rem; }
button { margin-top: 1.5rem; width: 100%; padding: .6rem; font-size: 1rem; }
.error { color: #a40000; background: #fde8e8; padding: .6rem; border-radius: 4px; }
.muted { color: #666; font-size: .85rem; }
code { word-break: break-all; }
</style>
</head>
<body><main>
{{ body }}
<p class="muted">tempstack OpenID Connect provider &middot; {{ issuer }}</p>
</main></body>
</html>
"""

_LOGIN = """<h1>Sign in</h1>
<p>to continue to <strong>{{ client_id }}</strong></p>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ action }}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" value="{{ username }}"
       required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
"""

_ERROR = """<h1>{{ heading }}</h1>
<p class="error" role="alert"><code>{{ error }}</code>{% if description %}: {{ description }}
{% endif %}</p>
<p>The application that sent you here is not set up for this provider, so you were not
sent back to it.</p>
"""

_CONFIRM_LOGOUT = """<h1>Sign out?</h1>
{% if client_id %}<p>Requested by <strong>{{ client_id }}</strong>.</p>{% endif %}
<form method="post" action="{{ action }}">
{% for name, value in fields %}<input type="hidden" name="{{ name }}" value="{{ value }}">
{% endfor %}<button type="submit">Sign out</button>
</form>
"""

_SIGNED_OUT = """<h1>Signed out</h1>
<p>You have been signed out.</p>
"""


def _page(title: str, issuer: str, body: str, **context: Any) -> str:
    inner = Markup(render_template_string(body, **context))
    return render_template_string(_LAYOUT, title=title, issuer=issuer, body=inner)


def login(
    issuer: str, client_id: str, action: str, username: str = "", error: str | None = None
) -> str:
    return _page(
        "Sign in",
        issuer,
        _LOGIN,
        client_id=client_id,
        action=action,
        username=username,
        error=error,
    )


def error(issuer: str, heading: str, error: str, description: str | None) -> str:
    return _page(heading, issuer, _ERROR, heading=heading, error=error, description=description)


def confirm_logout(
    issuer: str, client_id: str | None, action: str, fields: Iterable[tuple[str, str]]
) -> str:
    return _page(
        "Sign out",
        issuer,
        _CONFIRM_LOGOUT,
        client_id=client_id,
        action=action,
        fields=list(fields),
    )


def signed_out(issuer: str) -> str:
    return _page("Signed out", issuer, _SIGNED_OUT)
