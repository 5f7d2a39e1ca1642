"""Read a stack file, validate all of it, and collect every problem before anything starts.

Validation runs in passes so that one mistake does not hide the next: each service and
stage is validated on its own, then dependencies, cycles and interpolation references are
checked across the whole stack. Every problem becomes one ``SpecError`` line.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import BaseModel, ValidationError

from tempstack.errors import SpecError, SpecErrors, UsageError
from tempstack.spec import errors as spec_errors
from tempstack.spec import nesting
from tempstack.spec.budgets import budget_key, check_budgets
from tempstack.spec.fields import name_problem
from tempstack.spec.graph import find_cycle, topo_order
from tempstack.spec.interpolate import InterpolationSyntaxError, Ref, parse
from tempstack.spec.model import (
    SERVICE_MODELS,
    Condition,
    EnvTable,
    JobService,
    KubernetesSpec,
    ProcessService,
    ProfileSpec,
    ServiceSpec,
    StackMeta,
    StackSpec,
    StageSpec,
)
from tempstack.spec.paths import path_errors
from tempstack.spec.placement import placement_errors
from tempstack.spec.stages import STAGE_MODELS, LocustStage, PlaywrightStage

DEFAULT_FILE = "tempstack.toml"
_TOP_KEYS = ("stack", "env", "services", "stages", "profile", "budgets", "kubernetes")


@dataclass
class LoadedStack:
    """A validated stack file and what was derived from it."""

    spec: StackSpec
    path: Path
    prefix: str  # "" for tempstack.toml, "tool.tempstack" inside pyproject.toml
    deps: dict[str, dict[str, Condition]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    referenced: set[str] = field(default_factory=set)  # services whose attrs others use

    @property
    def name(self) -> str:
        return self.spec.stack.name

    @property
    def root(self) -> Path:
        return self.path.parent


def find_stack_file(path: str | os.PathLike[str] | None, cwd: Path | None = None) -> Path:
    """``-f PATH`` if given, else ``tempstack.toml``, else ``pyproject.toml`` with a table."""
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise UsageError(f"{p}: no such stack file")
        return p.resolve()
    here = cwd or Path.cwd()
    if (here / DEFAULT_FILE).exists():
        return (here / DEFAULT_FILE).resolve()
    pyproject = here / "pyproject.toml"
    if pyproject.exists():
        with pyproject.open("rb") as fh:
            try:
                if "tempstack" in tomllib.load(fh).get("tool", {}):
                    return pyproject.resolve()
            except tomllib.TOMLDecodeError:
                pass
    raise UsageError(
        f"no {DEFAULT_FILE} (or [tool.tempstack] in pyproject.toml) in {here}; pass -f PATH"
    )


def load(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> LoadedStack:
    """Load and fully validate a stack file; raises ``SpecErrors`` listing every problem."""
    file_path = find_stack_file(path)
    environ = os.environ if environ is None else environ
    shown = _shown_name(file_path)
    raw = file_path.read_bytes()
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecErrors([SpecError(shown, "", f"not valid TOML: {exc}")]) from None
    except RecursionError:
        line, key = nesting.where_deep(raw.decode())
        raise SpecErrors([SpecError(shown, key, f"line {line}: {nesting.problem()}")]) from None
    if (deep := nesting.too_deep(data)) is not None:
        raise SpecErrors([SpecError(shown, deep.split("[")[0], nesting.problem())])
    prefix = ""
    if file_path.name == "pyproject.toml":
        tool = data.get("tool", {})
        if not isinstance(tool, dict) or not isinstance(tool.get("tempstack"), dict):
            raise SpecErrors(
                [SpecError(shown, "tool.tempstack", "missing; add a [tool.tempstack] table")]
            )
        data, prefix = tool["tempstack"], "tool.tempstack"
    checker = _Checker(shown, prefix, file_path.parent, environ)
    try:
        loaded = checker.run(data, file_path)
    except RecursionError:  # a safety net: too_deep() refuses what could get here
        raise SpecErrors([SpecError(shown, prefix, nesting.problem())]) from None
    if checker.errors:
        raise SpecErrors(checker.errors)
    assert loaded is not None
    return loaded


def _shown_name(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def walk_strings(value: Any, key: str) -> Iterator[tuple[str, str]]:
    """(dotted key, string) for every string inside nested dicts and lists."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from walk_strings(v, f"{key}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk_strings(v, f"{key}[{i}]")


class _Checker:
    def __init__(self, file: str, prefix: str, root: Path, environ: Mapping[str, str]) -> None:
        self.file, self.prefix, self.root, self.environ = file, prefix, root, environ
        self.errors: list[SpecError] = []

    def key(self, *parts: str) -> str:
        return ".".join(p for p in (self.prefix, *parts) if p)

    def error(self, key: str, problem: str) -> None:
        self.errors.append(SpecError(self.file, key, problem))

    def validate(self, model: type[BaseModel], data: Any, key: str, what: str) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            self.errors.extend(spec_errors.convert(exc, model, self.file, key, what, data))
            return None

    def run(self, data: dict[str, Any], path: Path) -> LoadedStack | None:
        for top in data:
            if top not in _TOP_KEYS:
                self.error(
                    self.key(top), f"unknown section; valid sections: {', '.join(_TOP_KEYS)}"
                )
        meta = self.validate(StackMeta, data.get("stack", {}), self.key("stack"), "[stack]")
        env = self._env_table(data.get("env", {}))
        services = self._services(data.get("services", {}))
        stages = self._stages(data.get("stages", {}))
        profile = self.validate(
            ProfileSpec, data.get("profile", {}), self.key("profile"), "[profile]"
        )
        budgets = self._budgets(data.get("budgets", {}))
        kube = self.validate(
            KubernetesSpec, data.get("kubernetes", {}), self.key("kubernetes"), "[kubernetes]"
        )
        if meta is None or profile is None or kube is None or self.errors:
            return None
        spec = StackSpec(
            stack=meta,
            env=env,
            services=services,
            stages=stages,
            profile=profile,
            budgets=budgets,
            kubernetes=kube,
        )
        loaded = LoadedStack(spec=spec, path=path, prefix=self.prefix)
        self._dependencies(loaded)
        self._references(loaded, data)
        self._env_files(spec)
        self._stage_paths(spec)
        self._python(spec)
        self._kind_files(spec)
        self._snapshot_inputs(loaded)
        self.errors.extend(path_errors(spec, self.root, self.file, self.prefix))
        from tempstack.services.postgres_check import postgres_errors  # asks the server

        self.errors.extend(postgres_errors(spec, self.file, self.prefix))
        self.errors.extend(check_budgets(spec, self.file, self.prefix))
        self.errors.extend(placement_errors(spec, spec.stack.backend, self.file, self.prefix))
        if not self.errors:
            loaded.order = topo_order(loaded.deps)
        return loaded

    def _budgets(self, value: Any) -> dict[str, str | int | float]:
        if not isinstance(value, dict):
            self.error(self.key("budgets"), 'must be a table of "<what>" = <limit>')
            return {}
        good: dict[str, str | int | float] = {}
        for key, limit in value.items():
            if isinstance(limit, bool) or not isinstance(limit, str | int | float):
                self.error(
                    budget_key(self.prefix, key),
                    f'limit must be a number or a string such as "200ms" or "500MB", '
                    f"got {type(limit).__name__}",
                )
            else:
                good[key] = limit
        return good

    def _snapshot_inputs(self, loaded: LoadedStack) -> None:
        """A snapshotted job's inputs match files, and everything it builds on is restorable."""
        from tempstack.engine.snapshot import input_files, used_services

        spec = loaded.spec
        for name, svc in spec.services.items():
            if not isinstance(svc, JobService) or svc.snapshot is None:
                continue
            key = self.key("services", name, "snapshot")
            for dep in sorted(used_services(loaded, name)):
                other = spec.services.get(dep)
                if other is not None and other.kind == "s3":
                    self.error(
                        key,
                        f"the job uses s3 service {dep!r}, whose objects are not "
                        "snapshotted, so a restored run would miss them; put the S3 part "
                        "in a job without 'snapshot'",
                    )
                if isinstance(other, JobService) and other.snapshot is None:
                    self.error(
                        key,
                        f"the job builds on job {dep!r}, which has no snapshot: a restored "
                        f"run would run {dep!r} again on restored data; give {dep!r} a "
                        "snapshot too",
                    )
            base = self.root / (svc.cwd or "")
            for i, pattern in enumerate(svc.snapshot.inputs):
                try:
                    matched = bool(input_files(self.root, [pattern]))
                    problem = (
                        f"{pattern!r} matches no file (patterns are relative to {self.root}; "
                        f"the job runs in {base})"
                    )
                except (ValueError, NotImplementedError) as exc:
                    matched, problem = False, str(exc)
                if not matched:
                    self.error(key + f".inputs[{i}]", problem)

    def _env_table(self, value: Any) -> dict[str, str]:
        parsed = self.validate(EnvTable, {"env": value}, self.prefix, "[env]")
        return dict(parsed.env) if parsed is not None else {}

    def _services(self, raw: Any) -> dict[str, ServiceSpec]:
        out: dict[str, ServiceSpec] = {}
        if not isinstance(raw, dict):
            self.error(self.key("services"), "expected tables [services.NAME]")
            return out
        kinds = ", ".join(SERVICE_MODELS)
        for name, body in raw.items():
            key = self.key("services", name)
            if problem := ("a service cannot be named 'self'" if name == "self" else None) or (
                name_problem(name, "service")
            ):
                self.error(key, problem)
                continue
            if not isinstance(body, dict):
                self.error(key, "expected a table [services.NAME]")
                continue
            kind = body.get("kind", "process" if "command" in body else None)
            if kind is None:
                self.error(key, f"needs 'kind' (one of {kinds}) or a 'command' to run")
                continue
            if not isinstance(kind, str) or kind not in SERVICE_MODELS:
                self.error(f"{key}.kind", f"unknown kind {kind!r}; valid kinds: {kinds}")
                continue
            model = SERVICE_MODELS[kind]
            if (parsed := self.validate(model, body, key, f"a {kind} service")) is not None:
                out[name] = parsed
        return out

    def _stages(self, raw: Any) -> dict[str, StageSpec]:
        out: dict[str, StageSpec] = {}
        if not isinstance(raw, dict):
            self.error(self.key("stages"), "expected tables [stages.NAME]")
            return out
        for name, body in raw.items():
            key = self.key("stages", name)
            if problem := name_problem(name, "stage"):
                self.error(key, problem)
                continue
            if not isinstance(body, dict):
                self.error(key, "expected a table [stages.NAME]")
                continue
            kind = body.get("kind", "command")
            if not isinstance(kind, str) or kind not in STAGE_MODELS:
                self.error(
                    f"{key}.kind",
                    f"unknown stage kind {kind!r}; valid kinds: {', '.join(STAGE_MODELS)}",
                )
                continue
            model = STAGE_MODELS[kind]
            if (parsed := self.validate(model, body, key, f"a {kind} stage")) is not None:
                out[name] = parsed
        return out

    def _dependencies(self, loaded: LoadedStack) -> None:
        services = loaded.spec.services
        for name, svc in services.items():
            deps: dict[str, Condition] = {}
            raw = svc.depends_on
            items = raw.items() if isinstance(raw, dict) else ((d, None) for d in raw)
            for dep, cond in items:
                key = self.key("services", name, "depends_on", dep)
                if dep == name:
                    self.error(key, f"{name} cannot depend on itself")
                    continue
                if dep not in services:
                    self.error(
                        key,
                        f"{name} depends on {dep!r}, which is not a service; "
                        f"services: {', '.join(services) or 'none'}",
                    )
                    continue
                target_is_job = isinstance(services[dep], JobService)
                if cond is None:
                    cond = Condition.COMPLETED if target_is_job else Condition.READY
                if cond is Condition.COMPLETED and not target_is_job:
                    self.error(
                        key,
                        f"{name} waits for {dep} to be 'completed', but {dep} is a "
                        f"{services[dep].kind} service, not a job; use 'ready' or 'started'",
                    )
                elif cond is Condition.READY and target_is_job:
                    self.error(
                        key,
                        f"{name} waits for job {dep} to be 'ready'; a job has no "
                        "readiness, use 'completed' or 'started'",
                    )
                deps[dep] = cond
            loaded.deps[name] = deps
        if cycle := find_cycle(loaded.deps):
            self.error(
                self.key("services", cycle[0], "depends_on", cycle[1]),
                f"dependency cycle: {' -> '.join(cycle)}",
            )

    def _references(self, loaded: LoadedStack, data: dict[str, Any]) -> None:
        from tempstack.services.kinds import KINDS

        services = loaded.spec.services
        attrs = {n: KINDS[s.kind].attributes(s) for n, s in services.items()}
        raw_services = data.get("services", {})
        scopes: list[tuple[str | None, str, Any]] = [(None, self.key("env"), data.get("env", {}))]
        scopes += [(n, self.key("services", n), raw_services[n]) for n in services]
        scopes += [
            (None, self.key("stages", n), data.get("stages", {})[n]) for n in loaded.spec.stages
        ]
        for owner, base, body in scopes:
            for key, text in walk_strings(body, base):
                try:
                    refs = parse(text)
                except InterpolationSyntaxError as exc:
                    self.error(key, str(exc))
                    continue
                for ref in refs:
                    self._reference(loaded, attrs, owner, key, ref)

    def _reference(
        self,
        loaded: LoadedStack,
        attrs: dict[str, frozenset[str]],
        owner: str | None,
        key: str,
        ref: Ref,
    ) -> None:
        services = loaded.spec.services
        if ref.var is not None:
            if ref.var not in self.environ and ref.default is None:
                self.error(
                    key,
                    f"{ref.text} is not set in the environment; set {ref.var} or "
                    f"write ${{{ref.var}:-default}}",
                )
            return
        assert ref.service is not None and ref.attr is not None
        target = ref.service
        if target == "self":
            if owner is None:
                self.error(key, f"{ref.text}: 'self' only works inside a service")
                return
            target = owner
        if target not in services:
            self.error(
                key,
                f"{ref.text} names service {target!r}, which does not exist; "
                f"services: {', '.join(services) or 'none'}",
            )
            return
        valid = attrs[target]
        if ref.attr not in valid:
            kind = services[target].kind
            what = ", ".join(sorted(valid)) if valid else f"none (a {kind} exports nothing)"
            self.error(
                key, f"{ref.text}: {target} ({kind}) has no attribute {ref.attr!r}; valid: {what}"
            )
            return
        loaded.referenced.add(target)

    def _kind_files(self, spec: StackSpec) -> None:
        """Files a kind reads (a mock's routes file) are checked now, not at start."""
        from tempstack.services.kinds import KINDS

        for name, svc in spec.services.items():
            key = self.key("services", name)
            self.errors.extend(KINDS[svc.kind].check_files(svc, key, self.root, self.file))

    def _env_files(self, spec: StackSpec) -> None:
        for name, svc in spec.services.items():
            if not isinstance(svc, ProcessService | JobService) or svc.env_file is None:
                continue
            files = [svc.env_file] if isinstance(svc.env_file, str) else svc.env_file
            for f in files:
                if not (self.root / f).is_file():
                    self.error(
                        self.key("services", name, "env_file"),
                        f"{f}: no such file (relative to {self.root})",
                    )

    def _python(self, spec: StackSpec) -> None:
        given = spec.stack.python
        if given is None:
            return
        path = self.root / given
        if not (path.is_file() and os.access(path, os.X_OK)):
            self.error(
                self.key("stack", "python"),
                f"{given}: no such executable (relative to {self.root}); give the project's "
                'interpreter, for example ".venv/bin/python" (python3 -m venv .venv makes one)',
            )

    def _stage_paths(self, spec: StackSpec) -> None:
        """A stage's cwd, locustfile and browser are checked before anything starts."""
        for name, stage in spec.stages.items():
            cwd = stage.cwd
            if cwd is not None and "${" not in cwd and not (self.root / cwd).is_dir():
                self.error(
                    self.key("stages", name, "cwd"),
                    f"{cwd}: no such directory (relative to {self.root})",
                )
                continue
            base = self.root / (stage.cwd or "")
            if isinstance(stage, LocustStage) and "${" not in stage.locustfile:
                missing = [f for f in stage.locustfile.split(",") if not (base / f).is_file()]
                if missing:
                    self.error(
                        self.key("stages", name, "locustfile"),
                        f"{', '.join(missing)}: no such file (relative to {base})",
                    )
            if isinstance(stage, PlaywrightStage) and stage.executable:
                exe = stage.executable
                if "${" not in exe and not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
                    self.error(
                        self.key("stages", name, "executable"),
                        f"{exe}: no such executable; give the path of a Chromium "
                        "(Debian: /usr/bin/chromium, from the chromium package)",
                    )


def read_env_files(files: str | list[str] | None, root: Path) -> dict[str, str]:
    """Values of dotenv files, later files winning."""
    out: dict[str, str] = {}
    for f in [files] if isinstance(files, str) else (files or []):
        out.update({k: v for k, v in dotenv_values(root / f).items() if v is not None})
    return out
