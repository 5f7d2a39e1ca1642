"""One masking step for everything a run writes where others read it.

A stage that prints its settings, a framework's debug page or a failing assertion can copy a
run's credentials into the journal, a log tail, ``junit.xml``, the terminal or
``summary.md`` (the file meant for a merge request). Every report, log and text artifact
therefore passes through a :class:`Masker` that knows every secret of the run, generated
and given, in the forms they travel in: as written, URL-encoded (a password in a database
URL) and base64 (an ``Authorization: Basic`` header, at each of the three alignments a
secret can have inside a longer encoded string).

Standard library only: the journal, the stages and the reports all use it.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET = 4  # shorter values would mask ordinary words
MIN_ENCODED = 8  # base64 fragments shorter than this match too much by chance
MAX_FILE = 64 * 1024 * 1024  # larger files are left as they are (and said to be)
#: names whose values are secrets wherever they appear (``[env]``, a service's ``env``)
SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")


def _base64_forms(secret: bytes) -> set[str]:
    """The parts of ``base64(x + secret + y)`` that depend on the secret alone."""
    out = set()
    for lead in range(3):
        encoded = base64.b64encode(b"\0" * lead + secret).decode().rstrip("=")
        start = 4 if lead else 0  # the first group mixes in the leading bytes
        end = 4 * ((lead + len(secret)) // 3)  # a last partial group mixes in what follows
        core = encoded[start:end]
        if len(core) >= MIN_ENCODED:
            out.add(core)
            out.add(core.replace("+", "-").replace("/", "_"))  # base64url
    return out


def forms(secret: str) -> set[str]:
    """Every form of ``secret`` that is masked."""
    if len(secret) < MIN_SECRET:
        return set()
    raw = secret.encode()
    whole = base64.b64encode(raw).decode()
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        whole,
        whole.rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        *_base64_forms(raw),
    } - {""}


def secrets_in_env(env: Mapping[str, str]) -> set[str]:
    """Values of variables whose names say they are secrets (not paths, as in
    ``SSH_AUTH_SOCK``), and passwords in URLs."""
    out = {v for k, v in env.items() if SECRET_NAME.search(k) and v and not v.startswith("/")}
    for value in env.values():
        out.update(m.group(2) for m in _URL_PASSWORD.finditer(value))
    return out


class Masker:
    """Replaces every form of the known secrets with ``***``, in text, bytes and files."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        self._text: re.Pattern[str] | None = None
        self._bytes: re.Pattern[bytes] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            self._forms |= forms(secret)
        ordered = sorted(self._forms, key=len, reverse=True)  # the longest form wins
        if ordered:
            self._text = re.compile("|".join(re.escape(f) for f in ordered))
            self._bytes = re.compile(b"|".join(re.escape(f.encode()) for f in ordered))

    @property
    def longest(self) -> int:
        return max((len(f.encode()) for f in self._forms), default=0)

    def text(self, value: str) -> str:
        value = _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", value)
        return value if self._text is None else self._text.sub(MASK, value)

    def data(self, value: Any) -> Any:
        """Every string in a JSON-like structure (keys too), masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    def raw(self, value: bytes) -> bytes:
        return value if self._bytes is None else self._bytes.sub(MASK.encode(), value)

    def file(self, path: Path) -> bool:
        """Mask a text file in place; True if it changed. Binary files (a NUL early on:
        zip archives, images, videos) are left alone: a replacement would corrupt them."""
        if self._bytes is None or path.is_symlink() or not path.is_file():
            return False
        if path.stat().st_size > MAX_FILE:
            return False
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            return False
        masked = self._bytes.sub(MASK.encode(), data)
        if masked == data:
            return False
        tmp = path.with_name(f".{path.name}.masking")
        tmp.write_bytes(masked)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
        return True

    def tree(self, root: Path) -> list[Path]:
        """Mask every text file under ``root``; the files that changed."""
        changed = []
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = Path(dirpath) / name
                if self.file(path):
                    changed.append(path)
        return changed

    def stream(self) -> StreamMasker:
        return StreamMasker(self)


class StreamMasker:
    """Masks a byte stream chunk by chunk (a stage's output on its way to the log and the
    terminal): the last ``longest - 1`` bytes wait for the next chunk, so a secret split
    across two reads is still found."""

    def __init__(self, masker: Masker) -> None:
        self._masker = masker
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        pattern = self._masker._bytes
        if pattern is None:
            return chunk
        buf = self._pending + chunk
        cut = max(len(buf) - (self._masker.longest - 1), 0)
        out, pos = [], 0
        for match in pattern.finditer(buf):
            if match.start() >= cut:
                break
            out += [buf[pos : match.start()], MASK.encode()]
            pos = match.end()
        cut = max(cut, pos)
        out.append(buf[pos:cut])
        self._pending = buf[cut:]
        return b"".join(out)

    def flush(self) -> bytes:
        rest, self._pending = self._pending, b""
        return self._masker.raw(rest)
