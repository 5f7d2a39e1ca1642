"""Helpers for tests against a running stack: the ``tempstack_run`` object and waiting.

::

    from tempstack.testing import assert_eventually, wait_for_http

    wait_for_http(run.url("api") + "/health")
    assert_eventually(lambda: mock.assert_called_once("POST", "/charges"), timeout=5)

``StackRun`` is what the pytest plugin's ``tempstack_run`` fixture gives a test, whether
the plugin started the stack itself, attached to one started by ``tempstack up`` or runs
inside a ``tempstack run`` pytest stage.
"""

from __future__ import annotations

import itertools
import re
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from io import BufferedIOBase
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

import httpx

from tempstack.errors import UsageError

if TYPE_CHECKING:
    import psycopg

    from tempstack.mailbox import MailClient
    from tempstack.mock import MockClient
    from tempstack.service_info import ServiceInfo
    from tempstack.stack import Run

T = TypeVar("T")

_FIRST_PAUSE = 0.01
_MAX_PAUSE = 0.25


class StackRun:
    """One live run as a test sees it: ids, the exported env, services and their clients.

    ``services[name].exports`` holds the attributes ``${name.attr}`` resolves to (``url``,
    ``host``, ``port``, ...); ``env`` holds the same values as ``<SERVICE>_<ATTR>`` plus
    ``TEMPSTACK_RUN_ID`` and ``TEMPSTACK_RUN_DIR``.
    """

    def __init__(
        self, run_id: str, run_dir: Path, env: Mapping[str, str], services: dict[str, ServiceInfo]
    ) -> None:
        self.id = run_id
        self.dir = run_dir
        self._env = dict(env)
        self.services = services
        self._mocks: dict[str, MockClient] = {}
        self._mail: dict[str, MailClient] = {}

    @classmethod
    def from_run(cls, run: Run) -> StackRun:
        """A run this process started with ``Stack.up()``."""
        return cls(run.id, run.dir, run.env, run.services)

    @classmethod
    def from_state(cls, run_dir: Path, state: Mapping[str, Any]) -> StackRun:
        """A run started elsewhere, read from its ``state.json`` once it is ready."""
        from tempstack.service_info import ServiceInfo

        exports: dict[str, dict[str, str]] = state.get("exports") or {}
        env: dict[str, str] = state.get("env") or {}
        if not env:
            raise UsageError(
                f"run {state.get('run_id')} is {state.get('status')}; it has no exports yet"
            )
        recorded: dict[str, dict[str, Any]] = state.get("services") or {}
        services = {}
        for name, attrs in exports.items():
            info = recorded.get(name, {})
            port = info.get("port")
            services[name] = ServiceInfo(
                name=name,
                kind=str(info.get("kind", "")),
                host=attrs.get("host", "127.0.0.1"),
                port=None if port is None else int(port),
                exports=dict(attrs),
                pid=info.get("pid"),
            )
        return cls(str(state["run_id"]), run_dir, env, services)

    @property
    def env(self) -> dict[str, str]:
        """A copy: ``<SERVICE>_<ATTR>`` for every export, ``TEMPSTACK_RUN_ID``/``_DIR``."""
        return dict(self._env)

    def service(self, name: str, kind: str | None = None) -> ServiceInfo:
        """The service called ``name`` (of ``kind``, if given); a clear error otherwise."""
        try:
            svc = self.services[name]
        except KeyError:
            raise UsageError(
                f"no service named {name!r}; services: {', '.join(self.services) or 'none'}"
            ) from None
        if kind is not None and svc.kind != kind:
            raise UsageError(f"service {name!r} is a {svc.kind} service, not {kind}")
        return svc

    def url(self, name: str) -> str:
        url = self.service(name).exports.get("url")
        if url is None:
            raise UsageError(f"service {name!r} has no url (it listens on no port)")
        return url

    def mock(self, name: str) -> MockClient:
        """The admin client of the ``http-mock`` service ``name`` (one per session)."""
        from tempstack.mock import MockClient

        if name not in self._mocks:
            self._mocks[name] = MockClient(self.service(name, "http-mock").exports["url"])
        return self._mocks[name]

    def mail(self, name: str) -> MailClient:
        """The client of the ``mail`` service ``name``'s API (one per session): list, wait
        for, clear messages."""
        from tempstack.mailbox import MailClient

        if name not in self._mail:
            self._mail[name] = MailClient(self.service(name, "mail").exports["api_url"])
        return self._mail[name]

    def close(self) -> None:
        for mock in self._mocks.values():
            mock.close()
        for mail in self._mail.values():
            mail.close()
        self._mocks.clear()
        self._mail.clear()

    def __repr__(self) -> str:
        return f"<StackRun {self.id} services={list(self.services)}>"


def wait_for_http(url: str, status: int = 200, timeout: float = 10.0) -> httpx.Response:
    """GET ``url`` until it answers ``status``; returns that response.

    Connection errors and other statuses are retried (pauses grow from 10 ms to 250 ms)
    until ``timeout`` seconds have passed; then ``TimeoutError`` names the last answer.
    """
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    pause = _FIRST_PAUSE
    tries = 0
    last = "no answer"
    with httpx.Client(timeout=max(min(timeout, 5.0), 0.1)) as client:
        while True:
            tries += 1
            try:
                response = client.get(url)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == status:
                    return response
                last = f"status {response.status_code}"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{url} did not answer {status} within {timeout:g}s ({tries} tries); "
                    f"last: {last}"
                )
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, _MAX_PAUSE)


def assert_eventually(fn: Callable[[], T], timeout: float = 5.0, interval: float = 0.05) -> T:
    """Call ``fn`` until it stops raising ``AssertionError``; returns what it returned.

    Other exceptions propagate at once. When ``timeout`` seconds have passed, raises an
    ``AssertionError`` saying how long and how many tries, carrying the last error's
    message (and chaining it, so pytest shows where it was raised).
    """
    __tracebackhide__ = True  # pytest shows the caller and the last error, not this loop
    start = time.monotonic()
    deadline = start + timeout
    tries = 0
    while True:
        tries += 1
        try:
            return fn()
        except AssertionError as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                elapsed = time.monotonic() - start
                raise AssertionError(
                    f"still failing after {elapsed:.2f}s and {tries} "
                    f"{'try' if tries == 1 else 'tries'}: {exc or type(exc).__name__}"
                ) from exc
            time.sleep(min(interval, remaining))


# -- per-test databases ----------------------------------------------------------------

_NAME_MAX = 63  # PostgreSQL truncates identifiers longer than this
_IN_USE_WAIT = 5.0  # a template's last client can take a moment to be gone
_BACKENDS_GONE_WAIT = 2.0  # a dropped test database's backends finishing their exit


class DatabaseClones:
    """Databases cloned from one postgres service's template, for one test each.

    ``create()`` returns the URL (the service's ``url`` with the database swapped) of a
    database made by ``CREATE DATABASE <prefix>_<n> TEMPLATE <template>``; ``drop(url)``
    removes it ``WITH (FORCE)``, so connections a test left open do not block it.

    Cloning takes as long as copying the template's files, so it is kept off the tests'
    path: one thread runs every statement, in order, and makes the next database (``ahead``
    of them) while the current test runs; drops are queued behind. Statements go through
    one kept connection to the ``postgres`` maintenance database (never to the template:
    a template with a client cannot be copied), as ``admin_dsn`` when given: the per-test
    query counts leave that role out, so work done in the background during a test is not
    counted as the test's. (If the admin cannot connect, the service's own user is used.)
    """

    def __init__(
        self, url: str, template: str, prefix: str, *, admin_dsn: str | None = None, ahead: int = 2
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.url = url
        self.template = template
        self.prefix = re.sub(r"[^a-z0-9_]", "_", prefix.lower())[: _NAME_MAX - 8]
        self.ahead = ahead
        self._dsn = admin_dsn or database_url(url, "postgres")
        self._owner = unquote(urlsplit(url).username or "") or None
        self._numbers = itertools.count(1)
        self._live: set[str] = set()  # created, not yet dropped (only the thread touches it)
        self._ready: deque[Future[str]] = deque()
        self._drops: list[Future[None]] = []
        self._conn: psycopg.Connection[Any] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="tempstack-clones")

    def create(self) -> str:
        """A new database's URL; waits only if the one made ahead is not ready yet."""
        future = self._ready.popleft() if self._ready else self._thread.submit(self._create)
        while len(self._ready) < self.ahead:
            self._ready.append(self._thread.submit(self._create))
        return database_url(self.url, future.result())

    def drop(self, url: str) -> None:
        """Queue the drop of a database ``create`` made; failures surface in ``close``."""
        name = unquote(urlsplit(url).path.lstrip("/"))
        self._drops = [f for f in self._drops if not f.done() or f.exception()]
        self._drops.append(self._thread.submit(self._drop, name))

    def close(self) -> None:
        """Wait for queued work, drop every database still there, close the connection.

        Raises the first error of a drop, after trying all of them.
        """
        for future in self._ready:  # made ahead, never used: dropped below if made
            future.cancel()
        errors = [f.exception() for f in self._drops]
        self._ready.clear()
        errors.append(self._thread.submit(self._finish).exception())
        self._thread.shutdown()
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first

    # -- on the thread -------------------------------------------------------------------

    def _create(self) -> str:
        from psycopg import errors, sql

        name = f"{self.prefix}_{next(self._numbers)}"
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(self.template)
        )
        if self._owner:
            statement += sql.SQL(" OWNER {}").format(sql.Identifier(self._owner))
        if self._server_version() >= 150000:
            # copy the files instead of WAL-logging every block: twice as fast, and the
            # two checkpoints it costs are cheap with durability off
            statement += sql.SQL(" STRATEGY FILE_COPY")
        deadline = time.monotonic() + _IN_USE_WAIT
        while True:
            try:
                self._execute(statement)
                break
            except errors.ObjectInUse:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)
        self._live.add(name)
        return name

    def _drop(self, name: str) -> None:
        from psycopg import sql

        # DROP ... WITH (FORCE) sleeps 100 ms when the test's last backend is still
        # exiting; waiting a few ms for it to go is much cheaper
        deadline = time.monotonic() + _BACKENDS_GONE_WAIT
        while time.monotonic() < deadline and self._backends(name):
            time.sleep(0.002)
        self._execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        self._live.discard(name)

    def _finish(self) -> None:
        try:
            for name in sorted(self._live):
                self._drop(name)
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        try:
            return psycopg.connect(self._dsn, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError:
            fallback = database_url(self.url, "postgres")
            if self._dsn == fallback:
                raise
            self._dsn = fallback  # the admin cannot connect: the service's own user will do
            return psycopg.connect(self._dsn, autocommit=True, connect_timeout=10)

    def _server_version(self) -> int:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn.info.server_version

    def _backends(self, name: str) -> int:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        row = self._conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
        return int(row[0]) if row else 0

    def _execute(self, statement: Any) -> None:
        import psycopg

        for attempt in (1, 2):  # once more on a fresh connection if the kept one broke
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            try:
                self._conn.execute(statement)
                return
            except psycopg.OperationalError:
                if attempt == 2 or not self._conn.broken:
                    raise
                self._conn = None


def database_url(url: str, database: str) -> str:
    """``url`` (``postgresql://user:pw@host:port/db?...``) naming another database."""
    return urlsplit(url)._replace(path="/" + database).geturl()


# -- Redis -------------------------------------------------------------------------------


def redis_url(url: str, index: int) -> str:
    """``url`` (``redis://[:pw@]host:port/0``) pointing at logical database ``index``."""
    return urlsplit(url)._replace(path=f"/{index}").geturl()


def redis_index(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path else 0


def redis_databases(url: str) -> int:
    """How many logical databases the server has (``CONFIG GET databases``)."""
    reply = _redis(url, ["CONFIG", "GET", "databases"])[-1]
    assert isinstance(reply, list) and len(reply) == 2
    return int(reply[1])


def flush_redis(url: str) -> None:
    """Empty the logical database ``url`` names (``SELECT n``, ``FLUSHDB``)."""
    _redis(url, ["SELECT", str(redis_index(url))], ["FLUSHDB"])


class RedisError(RuntimeError):
    """The server answered a command with an error."""


def _redis(url: str, *commands: list[str]) -> list[Any]:
    """Send ``commands`` (after AUTH when the URL has a password); their replies.

    A few lines of RESP rather than a client library: the plugin needs three commands,
    and the ``redis`` package is not one of tempstack's dependencies.
    """
    parts = urlsplit(url)
    password = unquote(parts.password) if parts.password else None
    sent = ([["AUTH", password]] if password else []) + list(commands)
    with socket.create_connection((parts.hostname, parts.port or 6379), timeout=10) as sock:
        stream = sock.makefile("rwb")
        for command in sent:
            stream.write(f"*{len(command)}\r\n".encode())
            for arg in command:
                data = arg.encode()
                stream.write(b"$%d\r\n%s\r\n" % (len(data), data))
        stream.flush()
        replies = [_reply(stream) for _ in sent]
    for command, reply in zip(sent, replies, strict=True):
        if isinstance(reply, RedisError):
            raise RedisError(f"redis {command[0]}: {reply}")
    return replies


def _reply(stream: BufferedIOBase) -> Any:
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("redis closed the connection")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        return RedisError(body.decode())
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        return None if size < 0 else stream.read(size + 2)[:-2].decode()
    if kind == b"*":
        size = int(body)
        return None if size < 0 else [_reply(stream) for _ in range(size)]
    raise ConnectionError(f"redis sent an unexpected reply: {line!r}")
