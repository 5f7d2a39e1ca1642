"""Ready when a TCP connection to host:port succeeds."""

from __future__ import annotations

import socket


class TcpProbe:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.description = f"tcp {host}:{port}"

    def check(self) -> bool:
        with socket.create_connection((self.host, self.port), timeout=1.0):
            return True
