"""What an S3 request names: bucket, key and query, read from the request line as sent.

Only path-style addressing (``http://host:port/bucket/key``) is served: the exported URL is
an IP address, for which every SDK uses path style.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote_to_bytes

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


@dataclass(frozen=True)
class Target:
    method: str
    raw_path: str  # percent-encoded, exactly as on the request line
    raw_query: str
    bucket: str  # "" for the service itself (ListBuckets)
    key: str  # "" when only the bucket is named; otherwise byte-exact (``a//b``, ``./x``)
    query: dict[str, str]  # decoded; the first value of each parameter

    @property
    def is_object(self) -> bool:
        return bool(self.bucket and self.key)


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """Decoded ``name=value`` pairs. ``+`` stays a plus: SDKs encode spaces as ``%20``, and
    S3 keys and version ids contain literal pluses."""
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((decode(name), decode(value)))
    return pairs


def decode(text: str) -> str:
    """Percent-decoded UTF-8. WSGI hands the request line over as latin-1 text, so bytes a
    client sent unencoded are turned back into bytes first."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raw = text.encode()
    return unquote_to_bytes(raw).decode("utf-8", "replace")


def target(environ: WSGIEnvironment) -> Target:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        raw_path, _, raw_query = str(raw).partition("?")
    else:  # not werkzeug's server: rebuild what the client most likely sent
        path_info = str(environ.get("PATH_INFO", "/")).encode("latin-1").decode("utf-8")
        raw_path, raw_query = quote(path_info, safe="/"), str(environ.get("QUERY_STRING", ""))
    if "://" in raw_path:  # an absolute-form request target
        raw_path = "/" + raw_path.split("://", 1)[1].partition("/")[2]
    bucket, _, key = decode(raw_path).removeprefix("/").partition("/")
    query: dict[str, str] = {}
    for name, value in query_pairs(raw_query):
        query.setdefault(name, value)
    return Target(
        method=str(environ["REQUEST_METHOD"]).upper(),
        raw_path=raw_path or "/",
        raw_query=raw_query,
        bucket=bucket,
        key=key,
        query=query,
    )
