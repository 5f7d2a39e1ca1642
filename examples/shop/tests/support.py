"""Helpers shared by the shop's test suites (on the path through ``pythonpath`` in pytest.ini).

The stack's exports arrive in the environment: ``tempstack run`` passes them to every
stage; by hand, ``eval "$(tempstack env RUN_ID)"`` first.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    email: str
    name: str


# as declared for the `auth` service in tempstack.toml
ALICE = Account("alice", "wonderland", "alice@example.com", "Alice Liddell")
BOB = Account("bob", "builder", "bob@example.com", "Bob the Builder")

#: test cards the payment mock knows (mocks/payments.toml); any other valid number is charged
CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"
CARD_OUTAGE = "4000 0000 0000 0119"


def stack_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run the tests with `tempstack run -f examples/shop/tempstack.toml`"
            ' or after `eval "$(tempstack env RUN_ID)"`',
            pytrace=False,
        )
    return value


def png_bytes(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour, made by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width  # filter type 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@dataclass
class Event:
    event: str = "message"
    id: str | None = None
    data_lines: list[str] = field(default_factory=list)

    @property
    def data(self) -> Any:
        return json.loads("\n".join(self.data_lines))


def read_events(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> list[Event]:
    """Read a Server-Sent Events stream until the shop's ``end`` event (or the stream ends)."""
    events: list[Event] = []
    current = Event()
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line == "":
                if current.data_lines:
                    events.append(current)
                    if current.event == "end":
                        break
                current = Event()
            elif line.startswith(":"):
                continue  # a comment (keep-alive)
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    current.event = value
                elif name == "id":
                    current.id = value
                elif name == "data":
                    current.data_lines.append(value)
    return events
