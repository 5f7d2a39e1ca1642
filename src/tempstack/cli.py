"""The ``tempstack`` command: a thin layer over ``tempstack.Stack`` and the run registry.

Exit codes: 0 passed, 1 a stage failed, 2 usage or spec error, 3 the stack failed to
start, 4 timeout, 5 a budget was exceeded, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click
from rich.table import Table

from tempstack._clock import iso
from tempstack._files import tail
from tempstack.backends.local import paths, ports, runs
from tempstack.backends.local.state import load_state
from tempstack.detached import await_detached
from tempstack.errors import (
    EXIT_INTERRUPTED,
    EXIT_START_FAILED,
    EXIT_USAGE,
    Interrupted,
    SpecErrors,
    StartError,
    TempstackError,
    UsageError,
)
from tempstack.report.console import Progress, err, out, print_endpoints, write_line
from tempstack.report.terminal import describe_stage, print_run_result, show_history
from tempstack.spec.model import parse_duration
from tempstack.stack import DEFAULT_KEEP_TTL, Stack

F = TypeVar("F", bound=Callable[..., Any])


def handled(func: F) -> F:
    """Turn ``TempstackError`` into its one-line message and exit code; no tracebacks."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SpecErrors as exc:
            for line in exc.errors:
                err.print(f"error: {line.message}", markup=False)
            sys.exit(exc.exit_code)
        except TempstackError as exc:
            err.print(f"error: {exc}", markup=False)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err.print("interrupted", markup=False)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper  # type: ignore[return-value]


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM (and SIGHUP) become exceptions in the main thread so teardown runs."""
    previous = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


file_option = click.option(
    "-f",
    "--file",
    "stack_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Stack file (default: tempstack.toml, or [tool.tempstack] in pyproject.toml).",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the run's data goes (default: $TEMPSTACK_HOME, on tmpfs when available).",
)
timeout_option = click.option(
    "--timeout",
    callback=duration,
    default=None,
    metavar="DURATION",
    help="Give up (exit 4) after this long, e.g. 90s or 5m.",
)
no_cache_option = click.option(
    "--no-cache",
    is_flag=True,
    help="Do not restore or save seeded snapshots: run every job.",
)
report_dir_option = click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the journal and failure bundle go (default: .tempstack/reports/<run id>).",
)


class _Group(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            kwargs["standalone_mode"] = False
            return super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            sys.exit(EXIT_INTERRUPTED)
        except click.ClickException as exc:
            exc.show()
            sys.exit(EXIT_USAGE)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tempstack")
def main() -> None:
    """Throwaway, isolated stacks of real services for end-to-end tests; always cleaned up."""


# -- check -------------------------------------------------------------------------------
@main.command()
@file_option
@handled
def check(stack_file: Path | None) -> None:
    """Validate the stack file and print the resolved graph; starts nothing."""
    stack = Stack.load(stack_file)
    loaded = stack.loaded
    from tempstack.services.kinds import KINDS

    out.print(f"[bold]{loaded.name}[/bold]  ({loaded.path})")
    for name in loaded.order:
        svc = loaded.spec.services[name]
        deps = ", ".join(f"{d} {c.value}" for d, c in loaded.deps[name].items()) or "-"
        attrs = ", ".join(sorted(KINDS[svc.kind].attributes(svc))) or "-"
        out.print(f"  {name:<16} {svc.kind:<9} after: {deps:<32} exports: {attrs}", markup=False)
    for name, stage in loaded.spec.stages.items():
        out.print(f"  stage {name:<10} {stage.kind:<10} {describe_stage(stage)}", markup=False)
    problems = []
    local = loaded.spec.stack.backend == "local"  # a cluster brings its servers in images
    for name, svc in loaded.spec.services.items() if local else ():
        try:
            KINDS[svc.kind].check_installed(svc, name)
        except TempstackError as exc:
            problems.append(str(exc))
    for p in problems:
        err.print(f"error: {p}", markup=False)
    if problems:
        sys.exit(EXIT_START_FAILED)
    out.print("ok", style="green")


def backend_options(f: Callable[..., None]) -> Callable[..., None]:
    """--backend, --kubeconfig, --context, --wait: gathered into one ``backend`` dict."""
    options = [
        click.option(
            "--backend",
            "backend_name",
            type=click.Choice(["local", "kubernetes"]),
            default=None,
            help="Where services run (default: [stack] backend, else local).",
        ),
        click.option(
            "--kubeconfig",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Kubernetes: the kubeconfig file (default $KUBECONFIG, ~/.kube/config).",
        ),
        click.option("--context", default=None, help="Kubernetes: the kubeconfig context."),
        click.option(
            "--wait",
            "wait_deleted",
            is_flag=True,
            help="Kubernetes: at teardown, wait until the namespace is gone.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _backend(
    backend_name: str | None, kubeconfig: Path | None, context: str | None, wait_deleted: bool
) -> dict[str, Any]:
    chosen: dict[str, Any] = {"context": context, "wait": wait_deleted}
    if backend_name is not None:
        chosen["backend"] = backend_name
    if kubeconfig is not None:
        chosen["kubeconfig"] = str(kubeconfig.resolve())
    return chosen


# -- up ----------------------------------------------------------------------------------
@main.command()
@file_option
@data_dir_option
@timeout_option
@report_dir_option
@click.option("--detach", "-d", is_flag=True, help="Start under a supervisor and return.")
@click.option(
    "--ttl",
    callback=duration,
    default=None,
    metavar="DURATION",
    help="Tear the run down after this long (e.g. 30m).",
)
@no_cache_option
@backend_options
@click.option("--run-id", hidden=True, default=None)
@click.option("--supervised", hidden=True, is_flag=True)
@handled
def up(
    stack_file: Path | None,
    data_dir: Path | None,
    timeout: float | None,
    report_dir: Path | None,
    detach: bool,
    ttl: float | None,
    no_cache: bool,
    backend_name: str | None,
    kubeconfig: Path | None,
    context: str | None,
    wait_deleted: bool,
    run_id: str | None,
    supervised: bool,
) -> None:
    """Start the stack, print endpoints and env, stay in the foreground until Ctrl-C."""
    stack = Stack.load(stack_file)
    backend = _backend(backend_name, kubeconfig, context, wait_deleted)
    if detach:
        _detach(stack, data_dir, timeout, report_dir, ttl, no_cache, backend, run_id)
        return
    if ttl is not None:
        backend["expiry"] = ttl + (timeout or 600.0)  # gc's limit for a namespace left behind
    engine = stack.engine(
        data_dir=data_dir,
        timeout=timeout,
        report_dir=report_dir,
        run_id=run_id,
        use_cache=not no_cache,
        **backend,
    )
    progress = Progress(engine.status.values(), live=False if supervised else None)
    engine.options.on_change = progress
    with signals_raise():
        try:
            with progress:
                engine.start()
            expires = None if ttl is None else time.time() + ttl
            engine.backend.record(expires=iso(expires), ttl=ttl)
            if not supervised:
                print_endpoints(engine.exports, engine.env, engine.run_id)
                err.print(
                    f"ready: {engine.run_id}  (Ctrl-C or 'tempstack down {engine.run_id}' to stop)",
                    markup=False,
                )
            while expires is None or time.time() < expires:
                if engine.failure is not None:  # a service died (the watch saw it): say so now
                    raise engine.failure
                time.sleep(0.1 if expires is None else max(0.01, min(0.1, expires - time.time())))
        except (Interrupted, KeyboardInterrupt):
            if engine.journal.first("run.ready", None) is None:
                engine.stop()
                engine.journal.write(engine.report_dir)
                sys.exit(EXIT_INTERRUPTED)  # stopped before the stack was ever ready
        except BaseException as exc:
            from tempstack.stack import _record_failure

            _record_failure(engine, exc)
            raise
        finally:
            engine.stop()
            if not engine.refused:  # a taken --run-id: that run's reports are not ours
                engine.journal.write(engine.report_dir)


def _detach(
    stack: Stack,
    data_dir: Path | None,
    timeout: float | None,
    report_dir: Path | None,
    ttl: float | None,
    no_cache: bool,
    backend: dict[str, Any],
    run_id: str | None,
) -> None:
    from tempstack.engine.runid import make_run_id

    run_id = run_id or make_run_id(stack.name)
    argv = [
        sys.executable,
        "-m",
        "tempstack.cli",
        "up",
        "-f",
        str(stack.loaded.path),
        "--run-id",
        run_id,
        "--supervised",
    ]
    for flag, value in (("--data-dir", data_dir), ("--report-dir", report_dir)):
        if value is not None:
            argv += [flag, str(value.resolve())]
    if timeout is not None:
        argv += ["--timeout", str(timeout)]
    if ttl is not None:
        argv += ["--ttl", str(ttl)]
    if no_cache:
        argv.append("--no-cache")
    for flag, key in (
        ("--backend", "backend"),
        ("--kubeconfig", "kubeconfig"),
        ("--context", "context"),
    ):
        if backend.get(key):
            argv += [flag, str(backend[key])]
    if backend.get("wait"):
        argv.append("--wait")
    # this caller's own name: a refused duplicate id must not truncate the other's log
    log_path = paths.home() / "supervisors" / f"{run_id}.{os.getpid()}.log"
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path.cwd(),
        )
    state_path = paths.runs_dir() / run_id
    try:
        with signals_raise():
            await_detached(proc, state_path, log_path, run_id)
    except (Interrupted, KeyboardInterrupt):
        proc.send_signal(signal.SIGTERM)  # the supervisor tears down what it started
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        log_path.unlink(missing_ok=True)
        raise


# -- run ---------------------------------------------------------------------------------
@main.command(name="run")
@file_option
@data_dir_option
@timeout_option
@report_dir_option
@click.option("--keep-on-failure", is_flag=True, help="Keep the stack if anything fails.")
@click.option(
    "--ttl",
    callback=duration,
    default=None,
    metavar="DURATION",
    help=f"How long a kept stack lives (default {DEFAULT_KEEP_TTL / 3600:g}h).",
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Run the stages N times on one stack and report each test's flakiness.",
)
@click.option("--no-history", is_flag=True, help="Do not append to .tempstack/history.sqlite.")
@no_cache_option
@backend_options
@click.argument("stages", nargs=-1)
@handled
def run_(
    stack_file: Path | None,
    data_dir: Path | None,
    timeout: float | None,
    report_dir: Path | None,
    keep_on_failure: bool,
    ttl: float | None,
    repeat: int,
    no_history: bool,
    no_cache: bool,
    backend_name: str | None,
    kubeconfig: Path | None,
    context: str | None,
    wait_deleted: bool,
    stages: tuple[str, ...],
) -> None:
    """Up, run the stages in order with the exports in their environment, tear down.

    Writes journal.json, junit.xml, summary.md and report.html to the report directory.
    Exit codes: 0 passed, 1 a stage failed, 2 bad input, 3 the stack failed to start,
    4 timeout, 5 a [budgets] limit was exceeded, 130 interrupted.
    """
    stack = Stack.load(stack_file)
    progress = Progress()
    with signals_raise(), progress:
        result = stack.run(
            stages,
            keep_on_failure=keep_on_failure,
            keep_ttl=ttl or DEFAULT_KEEP_TTL,
            timeout=timeout,
            repeat=repeat,
            history=False if no_history else None,
            data_dir=data_dir,
            report_dir=report_dir,
            on_change=progress,
            on_failure=lambda exc: err.print(f"error: {exc}", markup=False),
            use_cache=not no_cache,
            **_backend(backend_name, kubeconfig, context, wait_deleted),
        )
    print_run_result(result)
    sys.exit(result.exit_code)


@main.command()
@file_option
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(1),
    default=20,
    show_default=True,
    help="How many recent runs to show and to compute failure rates over.",
)
@click.option("--all-tests", is_flag=True, help="List every test, not only those that failed.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handled
def history(stack_file: Path | None, limit: int, all_tests: bool, as_json: bool) -> None:
    """The last runs of this stack and each test's failure rate over them."""
    stack = Stack.load(stack_file)
    show_history(stack.history_path, stack.name, limit, all_tests, as_json)


# -- env / ps / logs / down / gc ---------------------------------------------------------
@main.command()
@click.argument("run_id", required=False)
@file_option
@click.option("--format", "fmt", type=click.Choice(["shell", "dotenv", "json"]), default="shell")
@handled
def env(run_id: str | None, stack_file: Path | None, fmt: str) -> None:
    """Print a run's exports (<SERVICE>_<ATTR>, TEMPSTACK_RUN_ID, TEMPSTACK_RUN_DIR)."""
    if run_id:
        record = runs.find_run(run_id)
    else:
        from tempstack.spec.load import find_stack_file

        try:
            path: Path | None = find_stack_file(stack_file)
        except UsageError:
            path = None
        record = runs.only_run_of(path)
    values: dict[str, str] = record.state.get("env") or {}
    if not values:
        raise UsageError(f"run {record.id} is {record.status}; it has no exports yet")
    if fmt == "json":
        write_line(json.dumps(values, indent=2))
    elif fmt == "dotenv":
        for key, value in values.items():
            quoted = json.dumps(value) if any(c in value for c in " #'\"$") else value
            write_line(f"{key}={quoted}")
    else:
        for key, value in values.items():
            write_line(f"export {key}={shlex.quote(value)}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--show-secrets",
    is_flag=True,
    help="Show passwords in URLs (masked by default; 'tempstack env RUN' gives them all).",
)
@handled
def ps(as_json: bool, show_secrets: bool) -> None:
    """List runs: id, stack, status, dir, supervisor, created, expires, services."""
    from tempstack.masking import Masker, secrets_in_env

    records = runs.list_runs()
    rows: list[dict[str, Any]] = []
    for r in records:
        s = r.state
        masker = Masker(secrets_in_env(s.get("env") or {}))
        shown: Callable[[Any], Any] = (lambda v: v) if show_secrets else masker.data
        rows.append(
            {
                "id": r.id,
                "stack": s.get("stack"),
                "status": r.status,
                "dir": s.get("run_dir"),
                "supervisor_pid": (s.get("supervisor") or {}).get("pid"),
                "created": s.get("created"),
                "expires": s.get("expires"),
                "services": {
                    n: {
                        "pid": v.get("pid"),
                        "port": v.get("port"),
                        "url": shown(v.get("url")),
                        "status": v.get("status"),
                    }
                    for n, v in s.get("services", {}).items()
                    if not n.startswith("_")  # tempstack's own helpers (the proxy)
                },
            }
        )
    if as_json:
        write_line(json.dumps(rows, indent=2))
        return
    if not rows:
        err.print("no runs")
        return
    table = Table(box=None)
    for col in ("run", "stack", "status", "supervisor", "created", "expires", "services"):
        table.add_column(col)
    for row in rows:
        services = ", ".join(
            f"{n}:{v['port'] or '-'}({v['status']})" for n, v in row["services"].items()
        )
        table.add_row(
            row["id"],
            row["stack"],
            row["status"],
            str(row["supervisor_pid"]),
            row["created"],
            row["expires"] or "-",
            services,
        )
    out.print(table)


@main.command()
@click.argument("run_id")
@click.argument("service", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--tail", "lines", type=int, default=None, help="Only the last N lines.")
@handled
def logs(run_id: str, service: str | None, follow: bool, lines: int | None) -> None:
    """Print a run's service logs (all services, prefixed, when SERVICE is omitted)."""
    record = runs.find_run(run_id)
    services = record.state.get("services", {})
    if service is not None and service not in services:
        raise UsageError(
            f"run {record.id} has no service {service!r}; services: {', '.join(services)}"
        )
    names = [service] if service else list(services)
    files = {n: Path(services[n].get("log") or record.run_dir / n / "output.log") for n in names}
    prefix = len(names) > 1
    offsets: dict[str, int] = {}
    for name, path in files.items():
        content = tail(path, lines) if lines is not None else _all_lines(path)
        for line in content:
            write_line(f"{name} | {line}" if prefix else line)
        offsets[name] = path.stat().st_size if path.exists() else 0
    while follow and load_state(record.run_dir) is not None:
        time.sleep(0.2)
        for name, path in files.items():
            if not path.exists() or path.stat().st_size <= offsets[name]:
                continue
            with path.open("rb") as fh:
                fh.seek(offsets[name])
                chunk = fh.read()
            offsets[name] += len(chunk)
            for line in chunk.decode(errors="replace").splitlines():
                write_line(f"{name} | {line}" if prefix else line)


def _all_lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []


@main.command()
@click.argument("run_ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Stop every run on this machine.")
@handled
def down(run_ids: tuple[str, ...], all_: bool) -> None:
    """Stop runs and remove everything they created."""
    if not run_ids and not all_:
        raise UsageError("name one or more runs (see 'tempstack ps') or pass --all")
    records = runs.list_runs() if all_ else [runs.find_run(r) for r in run_ids]
    for record in records:
        runs.stop(record)
        err.print(f"stopped {record.id}", markup=False)


@main.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.option(
    "--backend",
    "backend_name",
    type=click.Choice(["local", "kubernetes"]),
    default="local",
    show_default=True,
    help="kubernetes: delete namespaces of expired or vanished runs (only tempstack's).",
)
@click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--context", default=None)
@handled
def gc(dry_run: bool, backend_name: str, kubeconfig: Path | None, context: str | None) -> None:
    """Remove expired kept runs, orphaned runs and stale port leases (only tempstack's)."""
    if backend_name == "kubernetes":
        _gc_kubernetes(dry_run, kubeconfig, context)
        return
    removed = 0
    for record in runs.list_runs():
        why = runs.reapable(record)
        if why is None:
            continue
        err.print(f"{'would remove' if dry_run else 'removing'} {record.id}: {why}", markup=False)
        if not dry_run:
            runs.stop(record, timeout=10)
        removed += 1
    strays, foreign = runs.stray_dirs()
    for stray in strays:
        err.print(
            f"{'would remove' if dry_run else 'removing'} {stray}: a run that never started",
            markup=False,
        )
        if not dry_run:
            shutil.rmtree(stray, ignore_errors=True)
        removed += 1
    for entry in foreign:
        err.print(f"left alone: {entry}: not a tempstack run (no marker or state of ours)",
                  markup=False)
    if not dry_run:
        ports.release_stale()
    if removed == 0:
        err.print("nothing to remove", markup=False)


def _gc_kubernetes(dry_run: bool, kubeconfig: Path | None, context: str | None) -> None:
    from tempstack.backends.kubernetes import namespaces
    from tempstack.backends.kubernetes.client import api_message, connect

    clients = connect(str(kubeconfig) if kubeconfig else None, context)
    try:
        live = {r.id for r in runs.list_runs() if runs.reapable(r) is None}
        removed = 0
        try:
            found_all = namespaces.list_runs(clients)
        except Exception as exc:
            raise StartError(f"could not list namespaces: {api_message(exc)}") from None
        failed = 0
        for found in found_all:
            why = namespaces.reapable(found, live)
            if why is None:
                continue
            verb = "would delete" if dry_run else "deleting"
            err.print(f"{verb} namespace {found.name} (run {found.run_id}): {why}", markup=False)
            if not dry_run:
                try:
                    namespaces.delete(clients, found.name)
                except Exception as exc:  # one refusal never stops the others
                    err.print(f"could not delete {found.name}: {api_message(exc)}", markup=False)
                    failed += 1
            removed += 1
        if failed:
            sys.exit(EXIT_START_FAILED)
        if removed == 0:
            err.print("nothing to remove", markup=False)
    finally:
        clients.close()


@main.group()
def cache() -> None:
    """The machine's cache: initdb clusters and seeded snapshots."""


@cache.command(name="ls")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handled
def cache_ls(as_json: bool) -> None:
    """List cached snapshots and initdb clusters, newest first."""
    from tempstack.engine.snapshot import list_cache

    entries = list_cache(paths.cache_dir())
    if as_json:
        rows = [
            {
                "kind": e.kind,
                "name": e.name,
                "path": str(e.path),
                "size": e.size,
                "created": iso(e.created),
                "detail": e.detail,
            }
            for e in entries
        ]
        out.print_json(json.dumps(rows))
        return
    if not entries:
        err.print(f"the cache is empty ({paths.cache_dir()})", markup=False)
        return
    table = Table(box=None)
    for column in ("kind", "key", "size", "created"):
        table.add_column(column, no_wrap=True)
    table.add_column("what", overflow="fold")
    for e in entries:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.created))
        table.add_row(e.kind, e.name, f"{e.size / 1e6:.1f} MB", created, e.detail)
    out.print(table)


@cache.command(name="clear")
@click.option("--snapshots", "snapshots_only", is_flag=True, help="Keep initdb clusters.")
@handled
def cache_clear(snapshots_only: bool) -> None:
    """Remove cached snapshots (and initdb clusters unless --snapshots)."""
    from tempstack.engine.snapshot import clear_cache

    removed = clear_cache(paths.cache_dir(), snapshots_only=snapshots_only)
    for e in removed:
        err.print(f"removed {e.kind} {e.name} ({e.size / 1e6:.1f} MB)", markup=False)
    if not removed:
        err.print("nothing to remove", markup=False)


if __name__ == "__main__":
    main()
