"""``kind = "postgres"``: a real PostgreSQL server in the run directory.

Speed: ``initdb`` runs once per server version and user into a cache; each run copies that
cluster (tens of milliseconds on tmpfs) and starts ``postgres`` directly, with durability
off because the data is thrown away. As root the server runs as an unprivileged user.

Profiling: ``pg_stat_statements`` is preloaded and created in the ``postgres`` database
(its view there shows every database's statements) unless the engine sets
``TEMPSTACK_PG_STAT_STATEMENTS=0`` (``[profile] queries = false``);
``tempstack.profile.queries`` reads it.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from tempstack._files import locked, mark
from tempstack.errors import MissingBinaryError, StartError
from tempstack.readiness.base import Probe
from tempstack.services import binaries, postgres_data, users
from tempstack.services.base import (
    Container,
    KindDefaults,
    Launch,
    PrepareContext,
    ReadyCheck,
    ServicePlan,
    run_tag,
    spec_as,
)
from tempstack.spec.model import PostgresService, ServiceSpec

ADMIN = "tempstack"
DEFAULT_IMAGE_VERSION = "15"  # Debian 12's server: the same major locally and in a cluster
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; PostgreSQL appends "/.s.PGSQL.NNNNN"
_FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_senders": "0",
    "wal_level": "minimal",
    "logging_collector": "off",
}
#: Set by the engine from ``[profile] queries``; "0" leaves pg_stat_statements out.
STAT_STATEMENTS_VAR = "TEMPSTACK_PG_STAT_STATEMENTS"
_STAT_STATEMENTS = "pg_stat_statements"
# "top": statements the application sent. Statements run inside functions would count
# twice in time (the caller's total includes them) and are not round trips.
# track_utility off: BEGIN/COMMIT/SET would otherwise outnumber the real statements.
# max: entries are per database, so per-test databases multiply them; more entries make
# every snapshot slower (a few ms per 1000), fewer evict statements still being measured.
_STAT_SETTINGS = {
    "pg_stat_statements.track": "top",
    "pg_stat_statements.track_utility": "off",
    "pg_stat_statements.max": "5000",
}


def bin_dir(spec: PostgresService, service: str) -> tuple[str, Path]:
    """(version, bin dir) of the installed server matching ``spec.version``."""
    installed = binaries.postgres_bin_dirs()
    if not installed:
        raise MissingBinaryError(
            f"{service}: PostgreSQL server binaries (postgres, initdb) were not found on PATH "
            "or in /usr/lib/postgresql/*/bin; install them (Debian/Ubuntu: apt-get install "
            "postgresql)",
            service=service,
        )
    found = binaries.matching_postgres(spec.version)
    if found is not None:
        return found
    assert spec.version is not None  # with no version, the first installed server matches
    have = ", ".join(f"{v} ({p})" for v, p in installed)
    raise MissingBinaryError(
        f"{service}: services.{service}.version: PostgreSQL {spec.version} was asked for but "
        f"the installed server is {have}; install postgresql-{spec.version.split('.')[0]} or "
        "drop 'version'",
        service=service,
    )


class SocketProbe:
    """Ready when the admin can connect over the run's private Unix socket."""

    def __init__(self, socket_dir: Path, port: int) -> None:
        self.socket_dir, self.port = socket_dir, port
        self.description = f"postgres connect {socket_dir} port {port}"

    def check(self) -> bool:
        with psycopg.connect(admin_dsn(self.socket_dir, self.port), connect_timeout=2):
            return True


def admin_dsn(socket_dir: Path, port: int) -> str:
    return f"host={socket_dir} port={port} user={ADMIN} dbname=postgres"


def socket_dir_for(workdir: Path) -> Path:
    """Private socket directory; a short one in /tmp when the run dir path is too long."""
    own = workdir / "sock"
    if len(str(own)) <= _SOCKET_PATH_MAX:
        return own
    digest = hashlib.sha1(str(workdir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"tempstack-sock-{digest}"


def admin_dsn_for(workdir: Path, port: int) -> str:
    """The admin DSN of the server whose service directory is ``workdir`` (run dir / name)."""
    return admin_dsn(socket_dir_for(workdir), port)


def stat_statements_on(env: Mapping[str, str]) -> bool:
    return env.get(STAT_STATEMENTS_VAR, "1").strip().lower() not in {"0", "false", "off", "no"}


def stat_statements_wanted(spec: PostgresService, service: str, env: Mapping[str, str]) -> bool:
    """Asked for by the engine (the default) and installed with the server."""
    return stat_statements_on(env) and stat_statements_installed(bin_dir(spec, service)[1])


def _preload(given: str) -> str:
    """``shared_preload_libraries`` with pg_stat_statements added to the user's own list."""
    names = [name.strip() for name in given.split(",") if name.strip()]
    return ",".join([_STAT_STATEMENTS, *(n for n in names if n != _STAT_STATEMENTS)])


def _template(
    version: str,
    bin_path: Path,
    user: str | None,
    cache_dir: Path,
    record_dir: Callable[[Path], None] = lambda path: None,
) -> Path:
    """The cached ``initdb`` cluster for this version and user, built once under a lock."""
    uid = users.ids(user)
    key = f"{version}-{uid[0] if uid else 'self'}-v2"
    root = cache_dir / "postgres"
    target = root / key
    if (target / "PG_VERSION").exists():
        return target
    with locked(root / f"{key}.lock"):
        if (target / "PG_VERSION").exists():
            return target
        root.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
        record_dir(building)  # an interrupted initdb leaves nothing: teardown removes it
        if uid:
            shutil.chown(building, uid[0], uid[1])
        done = subprocess.run(
            [
                str(bin_path / "initdb"),
                "-D",
                str(building),
                "-U",
                ADMIN,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            check=False,
            user=user,
        )
        if done.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            raise StartError(
                f"initdb failed with exit code {done.returncode}",
                log_tail=(done.stdout + done.stderr).splitlines()[-30:],
            )
        if stat_statements_installed(bin_path):
            _create_stat_statements(bin_path, building, user)
        building.rename(target)
    return target


@functools.cache
def stat_statements_installed(bin_path: Path) -> bool:
    """Whether the server has the contrib module (Debian ships it; some distros split it).

    Without it the server is started without the preload (it would refuse to start) and
    SQL profiling has nothing to read.
    """
    lib = bin_path.parent / "lib"
    if (bin_path / "pg_config").exists():
        done = subprocess.run(
            [str(bin_path / "pg_config"), "--pkglibdir"],
            capture_output=True,
            text=True,
            check=False,
        )
        lib = Path(done.stdout.strip()) if done.returncode == 0 else lib
    return (lib / f"{_STAT_STATEMENTS}.so").exists()


def _create_stat_statements(bin_path: Path, data: Path, user: str | None) -> None:
    """The extension's objects in the cached cluster's ``postgres`` database, made once
    here in single-user mode so no run pays for ``CREATE EXTENSION`` (~13 ms). They are
    inert until a run preloads the library."""
    done = subprocess.run(
        [str(bin_path / "postgres"), "--single", "-F", "-D", str(data), "postgres"],
        input=f"CREATE EXTENSION IF NOT EXISTS {_STAT_STATEMENTS};\n",
        capture_output=True,
        text=True,
        check=False,
        user=user,
    )
    if done.returncode != 0 or " ERROR: " in done.stderr:  # single-user exits 0 on ERROR
        shutil.rmtree(data, ignore_errors=True)
        raise StartError(
            f"CREATE EXTENSION {_STAT_STATEMENTS} failed in the cached cluster",
            log_tail=(done.stdout + done.stderr).splitlines()[-30:],
        )


def _check_reachable(path: Path, user: str | None, service: str) -> None:
    """The unprivileged server user must be able to walk down to its data directory
    (``path`` itself is handed to that user)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            raise StartError(
                f"{service}: PostgreSQL runs as user {user!r} (tempstack is root) and cannot "
                f"reach {path}: {parent} is not searchable by others (mode "
                f"{stat.S_IMODE(mode):o}); choose a --data-dir or TEMPSTACK_HOME under "
                "/dev/shm or /tmp, or chmod o+x it",
                service=service,
            )


def _settings(
    pg: PostgresService, plan: ServicePlan, ctx: PrepareContext, **given: str
) -> dict[str, str]:
    """The server's settings: fast and unsafe (throwaway data), measured, then the spec's."""
    settings: dict[str, str] = {**_FAST_SETTINGS, "port": str(plan.port), **given}
    stats = stat_statements_wanted(pg, plan.name, ctx.base_env)
    if stats:
        settings.update(_STAT_SETTINGS)
    for key, value in pg.settings.items():
        settings[key] = ("on" if value else "off") if isinstance(value, bool) else str(value)
    if stats:
        settings["shared_preload_libraries"] = _preload(
            settings.get("shared_preload_libraries", "")
        )
    return settings


def _user_dsn(plan: ServicePlan, database: str = "postgres") -> str:
    """The generated superuser through the exported (forwarded) address: a remote server."""
    url = plan.exports["url"]
    return url[: url.rindex("/") + 1] + database


class PostgresKind(KindDefaults):
    name = "postgres"
    is_job = False
    holds_data = True

    def attributes(self, spec: ServiceSpec) -> frozenset[str]:
        return frozenset({"url", "host", "port", "user", "password", "database", "template"})

    def needs_port(self, spec: ServiceSpec, referenced: bool) -> bool:
        return True

    def make_secrets(self, spec: ServiceSpec) -> dict[str, str]:
        pg = spec_as(spec, PostgresService)
        return {
            "user": pg.user or f"u_{secrets.token_hex(4)}",
            "password": pg.password or secrets.token_urlsafe(18),
        }

    def exports(self, plan: ServicePlan) -> dict[str, str]:
        pg = spec_as(plan.spec, PostgresService)
        user, password, db = plan.secrets["user"], plan.secrets["password"], pg.databases[0]
        return {
            "host": plan.host,
            "port": str(plan.port),
            "user": user,
            "password": password,
            "database": db,
            # a frozen copy of ``database`` as the jobs left it, for per-test clones
            "template": postgres_data.template_name(db),
            "url": f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{plan.host}:{plan.port}/{db}",
        }

    def check_installed(self, spec: ServiceSpec, name: str) -> None:
        bin_dir(spec_as(spec, PostgresService), name)

    def _socket_dir(self, ctx: PrepareContext) -> Path:
        return socket_dir_for(ctx.workdir)

    def prepare(self, plan: ServicePlan, ctx: PrepareContext) -> Launch:
        pg = spec_as(plan.spec, PostgresService)
        version, bin_path = bin_dir(pg, plan.name)
        user = users.unprivileged_user(plan.name)
        template = _template(version, bin_path, user, ctx.cache_dir, ctx.record_dir)
        data = ctx.workdir / "data"
        sock = self._socket_dir(ctx)
        uid = users.ids(user)
        if uid:
            _check_reachable(ctx.workdir, user, plan.name)
        if not sock.is_relative_to(ctx.workdir):
            ctx.record_dir(sock)
        # tagged like the run's processes, so a teardown racing this copy kills it first
        subprocess.run(
            ["cp", "-a", str(ctx.restore or template), str(data)],
            check=True,
            env={**ctx.base_env, **run_tag(ctx.run_id)},
        )
        sock.mkdir()
        if not sock.is_relative_to(ctx.workdir):
            mark(sock, ctx.run_id)  # outside the run: gc removes it only with our marker
        if uid:
            shutil.chown(ctx.workdir, uid[0], uid[1])
            shutil.chown(sock, uid[0], uid[1])
        sock.chmod(0o700)
        (data / "pg_hba.conf").write_text(
            f"local all {ADMIN} trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
        settings = _settings(
            pg,
            plan,
            ctx,
            listen_addresses=plan.host,
            unix_socket_directories=str(sock),
        )
        argv = [str(bin_path / "postgres"), "-D", str(data)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        env = {k: v for k, v in ctx.base_env.items() if not k.startswith("PG")}
        return Launch(
            argv=argv,
            env=env,
            cwd=ctx.workdir,
            stop_signal=pg.stop_signal,
            stop_timeout=pg.stop_timeout,
            run_as=user,
        )

    def probe(self, plan: ServicePlan, ctx: PrepareContext) -> Probe:
        assert plan.port is not None
        return SocketProbe(self._socket_dir(ctx), plan.port)

    def after_ready(self, plan: ServicePlan, ctx: PrepareContext) -> None:
        pg = spec_as(plan.spec, PostgresService)
        assert plan.port is not None
        user, password = plan.secrets["user"], plan.secrets["password"]
        if ctx.remote:  # the image made the role and the first database
            with psycopg.connect(_user_dsn(plan), autocommit=True) as conn:
                existing = postgres_data.existing_databases(conn)
                for db in (d for d in pg.databases if d not in existing):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
                if stat_statements_wanted(pg, plan.name, ctx.base_env):
                    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            return
        with psycopg.connect(admin_dsn(self._socket_dir(ctx), plan.port), autocommit=True) as conn:
            if ctx.restore is not None:  # the snapshot's role becomes this run's
                postgres_data.adopt_roles(conn, ctx.restore_meta, user)
            existing = postgres_data.existing_databases(conn)
            has_role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
            verb = "ALTER" if has_role else "CREATE"
            if pg.password is None:  # generated: ASCII, random, this server only
                password = postgres_data.scram_verifier(password)
            conn.execute(
                sql.SQL("{} ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                    sql.SQL(verb), sql.Identifier(user), sql.Literal(password)
                )
            )
            for db in (d for d in pg.databases if d not in existing):
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(db), sql.Identifier(user)
                    )
                )
            if stat_statements_wanted(pg, plan.name, ctx.base_env):
                # already in the cached cluster; not in one restored from an older snapshot
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    # -- data hooks --------------------------------------------------------------------------
    def data_version(self, spec: ServiceSpec, name: str) -> str | None:
        version, _ = bin_dir(spec_as(spec, PostgresService), name)
        uid = users.ids(users.unprivileged_user(name))
        return f"postgres {version} uid {uid[0] if uid else 'self'}"

    def save_snapshot(self, plan: ServicePlan, ctx: PrepareContext, dest: Path) -> dict[str, Any]:
        assert plan.port is not None
        postgres_data.save(admin_dsn_for(ctx.workdir, plan.port), ctx.workdir / "data", dest)
        return {"user": plan.secrets["user"]}

    def after_seeded(self, plan: ServicePlan, ctx: PrepareContext) -> None:
        pg = spec_as(plan.spec, PostgresService)
        assert plan.port is not None
        dsn = _user_dsn(plan) if ctx.remote else admin_dsn_for(ctx.workdir, plan.port)
        busy = postgres_data.make_templates(dsn, pg.databases)
        if busy:
            raise RuntimeError(
                f"no template of {', '.join(busy)}: a service was connected to it when the "
                "jobs finished (make it depend on the last job to get per-test databases)"
            )

    def stats_dsn(self, plan: ServicePlan, ctx: PrepareContext) -> str | None:
        pg = spec_as(plan.spec, PostgresService)
        if plan.port is None or not stat_statements_wanted(pg, plan.name, ctx.base_env):
            return None
        return _user_dsn(plan) if ctx.remote else admin_dsn_for(ctx.workdir, plan.port)

    def container(self, plan: ServicePlan, ctx: PrepareContext) -> Container:
        """The official postgres image's contract: it initialises itself from ``POSTGRES_*``."""
        pg = spec_as(plan.spec, PostgresService)
        user, db = plan.secrets["user"], pg.databases[0]
        settings = _settings(pg, plan, ctx, listen_addresses="*")
        args = [part for key, value in settings.items() for part in ("-c", f"{key}={value}")]
        data = "/var/lib/postgresql/data"
        return Container(
            image=ctx.image or f"postgres:{pg.version or DEFAULT_IMAGE_VERSION}",
            args=args,
            env={"POSTGRES_USER": user, "POSTGRES_DB": db, "PGDATA": f"{data}/pgdata"},
            secret_env={"POSTGRES_PASSWORD": plan.secrets["password"]},
            ready=ReadyCheck(
                exec=[
                    "pg_isready",
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(plan.port),
                    "-U",
                    user,
                    "-d",
                    db,
                ]
            ),
            data_dir=data,
        )
