"""Seeded snapshots: the data a stack's jobs produced, cached and restored while unchanged.

Jobs that declare ``snapshot = { inputs = [...] }`` form the snapshot group. The data
services they depend on (directly or through other services) are snapshotted once the
whole group has succeeded, into ``<cache>/snapshots/<key>/<service>/``. The key hashes
everything that could change the result: the input files' contents, the group's commands,
environments and working directories as written (before interpolation, so per-run ports
and passwords do not count), the data services' specs and server versions, and the
snapshot format. A later run with the same key restores the data and skips the group.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tempstack._files import locked, write_json
from tempstack.spec.graph import topo_order
from tempstack.spec.interpolate import Ref, parse, resolver, substitute
from tempstack.spec.load import LoadedStack, read_env_files, walk_strings
from tempstack.spec.model import Condition, JobService

FORMAT = "tempstack-snapshot-1"
META = "snapshot.json"
_IGNORED_DIRS = {"__pycache__", ".git", ".tempstack", ".pytest_cache", ".mypy_cache"}


def input_files(root: Path, patterns: Iterable[str]) -> list[Path]:
    """Files matched by glob ``patterns`` under ``root``; a matched directory means its files.

    Byte-code caches and VCS directories are left out: they change without the inputs
    changing and would needlessly invalidate the snapshot.
    """
    found: set[Path] = set()
    for pattern in patterns:
        if Path(pattern).is_absolute():
            raise ValueError(f"{pattern!r} is absolute; give a pattern relative to {root}")
        for match in root.glob(pattern):
            candidates = match.rglob("*") if match.is_dir() else [match]
            for path in candidates:
                rel = path.relative_to(root)
                if path.is_file() and not _IGNORED_DIRS.intersection(rel.parts):
                    found.add(path)
    return sorted(found)


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def transitive_deps(deps: Mapping[str, Mapping[str, Condition]], name: str) -> set[str]:
    seen: set[str] = set()
    todo = list(deps.get(name, {}))
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(deps.get(dep, {}))
    return seen


@dataclass
class SnapshotPlan:
    """What this run does about the snapshot group, decided before anything starts."""

    key: str
    jobs: list[str]  # the snapshot group, in start order
    services: list[str]  # data services whose state the group produces
    dir: Path  # the cache entry
    hit: bool  # a complete snapshot exists: restore and skip the jobs
    meta: dict[str, Any] = field(default_factory=dict)

    def service_dir(self, service: str) -> Path:
        return self.dir / service


def used_services(loaded: LoadedStack, job: str) -> set[str]:
    """What a job depends on or names through ``${svc.attr}``, and their dependencies."""
    svc = loaded.spec.services[job]
    named = {
        ref.service
        for _, text in walk_strings(svc.model_dump(include={"command", "env", "cwd"}), job)
        for ref in parse(text)
        if ref.service is not None and ref.service in loaded.spec.services
    }
    found = transitive_deps(loaded.deps, job)
    for name in named - found:
        found |= {name, *transitive_deps(loaded.deps, name)}
    return found


def _as_run_sees(value: Any, environ: Mapping[str, str]) -> Any:
    """``${VAR}`` references filled in from the caller's environment (they change what a
    job does); ``${svc.attr}`` left as written (per-run ports and passwords do not)."""
    if isinstance(value, str):
        lookup = resolver({}, environ, None)

        def one(ref: Ref) -> str:
            if ref.var is None:
                return ref.text
            try:
                return lookup(ref)
            except KeyError:
                return ref.text

        return substitute(value, one)
    if isinstance(value, dict):
        return {k: _as_run_sees(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_run_sees(v, environ) for v in value]
    return value


def plan_snapshot(
    loaded: LoadedStack,
    version_of: Callable[[str], str | None],
    cache_dir: Path,
    *,
    environ: Mapping[str, str] | None = None,
    use_cache: bool = True,
) -> SnapshotPlan | None:
    """The group, its data services and its key; ``None`` when no job asks for a snapshot.

    ``version_of`` gives a service's data version (``None`` for kinds that hold no data
    worth snapshotting, such as processes).
    """
    spec = loaded.spec
    jobs = [
        n
        for n in topo_order(loaded.deps)
        if isinstance(spec.services[n], JobService) and spec.services[n].snapshot is not None  # type: ignore[union-attr]
    ]
    if not jobs:
        return None
    # asked only here, for what the group uses: a version can cost a subprocess
    used = {dep for job in jobs for dep in used_services(loaded, job)}
    versions = {name: version_of(name) for name in sorted(used)}
    services = sorted(name for name, version in versions.items() if version is not None)
    env = dict(environ or {})
    digest = hashlib.sha256(FORMAT.encode())

    def add(label: str, value: Any) -> None:
        digest.update(json.dumps([label, value], sort_keys=True, default=str).encode())
        digest.update(b"\n")

    for job in jobs:
        svc = spec.services[job]
        assert isinstance(svc, JobService) and svc.snapshot is not None
        add("job", _as_run_sees([job, svc.command, svc.cwd, svc.env], env))
        add("env_file", _as_run_sees(read_env_files(svc.env_file, loaded.root), env))
        for path in input_files(loaded.root, svc.snapshot.inputs):
            add("input", [str(path.relative_to(loaded.root)), _hash_file(path)])
    add("stack env", _as_run_sees(spec.env, env))
    for name in services:
        data = spec.services[name].model_dump(exclude={"stop_signal", "stop_timeout"})
        add("service", [name, data, versions[name]])
    key = digest.hexdigest()[:20]
    entry = cache_dir / "snapshots" / key
    meta = _read_meta(entry)
    hit = use_cache and meta is not None and set(meta.get("services", {})) == set(services)
    return SnapshotPlan(key, jobs, services, entry, hit, meta or {})


def _read_meta(entry: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((entry / META).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def building_dir(plan: SnapshotPlan) -> Path:
    """A private directory to build the entry in; ``commit`` moves it into place."""
    plan.dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{plan.key}.", dir=plan.dir.parent))


def commit(plan: SnapshotPlan, built: Path, stack: str, services: dict[str, Any]) -> bool:
    """Publish a built snapshot atomically; False when another run published one first."""
    write_json(
        built / META,
        {
            "format": FORMAT,
            "key": plan.key,
            "stack": stack,
            "jobs": plan.jobs,
            "services": services,
            "created": time.time(),
        },
    )
    with locked(plan.dir.parent / f"{plan.key}.lock"):
        if _read_meta(plan.dir) is not None:
            shutil.rmtree(built, ignore_errors=True)
            return False
        shutil.rmtree(plan.dir, ignore_errors=True)
        built.rename(plan.dir)
    return True


@dataclass
class CacheEntry:
    kind: str  # "snapshot" or "initdb"
    name: str
    path: Path
    size: int
    created: float
    detail: str


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def list_cache(cache_dir: Path) -> list[CacheEntry]:
    """Snapshots and ``initdb`` clusters in the machine's cache, newest first."""
    entries: list[CacheEntry] = []
    for entry in sorted((cache_dir / "snapshots").glob("[!.]*")):
        meta = _read_meta(entry) if entry.is_dir() else None
        if meta is None:
            continue
        detail = f"stack {meta.get('stack')}: jobs {', '.join(meta.get('jobs', []))}"
        detail += f"; data of {', '.join(meta.get('services', {}))}"
        entries.append(
            CacheEntry("snapshot", entry.name, entry, _size(entry), meta["created"], detail)
        )
    for entry in sorted((cache_dir / "postgres").glob("[!.]*")):
        if entry.is_dir() and (entry / "PG_VERSION").exists():
            created = (entry / "PG_VERSION").stat().st_mtime
            entries.append(
                CacheEntry("initdb", entry.name, entry, _size(entry), created, "PostgreSQL cluster")
            )
    return sorted(entries, key=lambda e: e.created, reverse=True)


def clear_cache(cache_dir: Path, *, snapshots_only: bool = False) -> list[CacheEntry]:
    """Remove cached entries (each under its lock, so a run building one is not broken)."""
    removed = []
    for entry in list_cache(cache_dir):
        if snapshots_only and entry.kind != "snapshot":
            continue
        with locked(entry.path.parent / f"{entry.name}.lock"):
            shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry)
    return removed
