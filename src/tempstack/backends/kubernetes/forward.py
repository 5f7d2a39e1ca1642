"""Port-forwards: a local listener on 127.0.0.1 per service port, relayed to its pod.

Each accepted connection gets its own port-forward stream through the API server to the
service's current ready pod (looked up per connection, so a restarted pod is found
again). The relay lives in this process: it cannot outlive the run.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections.abc import Callable
from typing import Any

from kubernetes.stream import portforward

from tempstack.backends.kubernetes.client import Clients
from tempstack.services.base import HOST

_CHUNK = 65536


class Forward:
    def __init__(
        self,
        clients: Clients,
        namespace: str,
        pod: Callable[[], str | None],
        local_port: int,
        remote_port: int,
    ) -> None:
        self.clients = clients
        self.namespace = namespace
        self.pod = pod
        self.remote_port = remote_port
        self._closed = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.listener = socket.create_server((HOST, local_port), backlog=64)
        self.local_port = local_port
        self._thread = threading.Thread(
            target=self._accept, name=f"ts-forward-{local_port}", daemon=True
        )
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self._closed.is_set():
                conn.close()
                return
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        stream = None
        try:
            name = self.pod()
            if name is None:
                return  # nothing ready to forward to: the client sees a closed connection
            stream = portforward(
                self.clients.core.connect_get_namespaced_pod_portforward,
                name,
                self.namespace,
                ports=str(self.remote_port),
            )
            remote = stream.socket(self.remote_port)
            remote.setblocking(True)
            _pipe(conn, remote, self._closed)
        except Exception:  # the pod went away mid-connection: the client sees it closed
            pass
        finally:
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()

    def close(self) -> None:
        self._closed.set()
        # close() alone does not wake a thread blocked in accept(): the port would stay bound
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.listener.close()
        self._thread.join(timeout=1)
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def _pipe(a: socket.socket, b: Any, closed: threading.Event) -> None:
    """Copy both ways until both sides have finished sending (half-close respected)."""
    sel = selectors.DefaultSelector()
    peers: dict[Any, Any] = {a: b, b: a}  # b: the client's socket-like port-forward end
    for sock in peers:
        sel.register(sock, selectors.EVENT_READ)
    open_ = 2
    try:
        while open_ and not closed.is_set():
            for key, _ in sel.select(timeout=0.5):
                src: Any = key.fileobj
                data = src.recv(_CHUNK)
                dst = peers[src]
                if data:
                    dst.sendall(data)
                    continue
                sel.unregister(src)
                open_ -= 1
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
    finally:
        sel.close()
