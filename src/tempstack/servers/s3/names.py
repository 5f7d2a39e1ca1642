"""Bucket naming rules for CreateBucket, which moto does not enforce (it accepts
``Upper_Case``, ``-dash``, ``a..b``, IP addresses and reserved prefixes).

AWS, "General purpose bucket naming rules": 3-63 characters; lowercase letters, digits,
dots and hyphens; a letter or digit first and last; no two adjacent dots; not an IP
address; not starting with ``xn--``, ``sthree-`` or ``amzn-s3-demo-``; not ending with
``-s3alias``, ``--ol-s3``, ``.mrap``, ``--x-s3`` or ``--table-s3``. Like MinIO, a dot next
to a hyphen is refused too (such names break virtual-hosted addressing).
"""

from __future__ import annotations

import re

_SHAPE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def problem(name: str) -> str | None:
    """Why ``name`` is not a valid bucket name, or None when it is."""
    if not _SHAPE.match(name):
        return (
            "3-63 characters of lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    if ".." in name or ".-" in name or "-." in name:
        return "no '..', '.-' or '-.'"
    if _IP.match(name):
        return "not an IP address"
    if name.startswith(_PREFIXES):
        return f"not starting with {', '.join(_PREFIXES)}"
    if name.endswith(_SUFFIXES):
        return f"not ending with {', '.join(_SUFFIXES)}"
    return None
