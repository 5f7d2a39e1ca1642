"""``kind = "http-mock"``: a programmable HTTP server standing in for an external API."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tempstack.errors import SpecError, SpecErrors
from tempstack.services.base import PrepareContext, ServicePlan, spec_as
from tempstack.services.server import ServerKind
from tempstack.spec import errors as spec_errors
from tempstack.spec.model import ServiceSpec
from tempstack.spec.outside import HttpMockService
from tempstack.spec.routes import MockRoute, RoutesFile, dump_routes


def read_routes_file(path: Path, shown: str) -> RoutesFile:
    """Parse and validate a routes file; a ``SpecError`` (or ``SpecErrors``) names it."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(shown, "", f"cannot read the routes file: {exc.strerror}") from exc
    try:
        data: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        what = "JSON" if path.suffix == ".json" else "TOML"
        raise SpecError(shown, "", f"invalid {what}: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(shown, "", 'expected an object {"routes": [...]}')
    try:
        return RoutesFile.model_validate(data)
    except ValidationError as exc:
        errors = spec_errors.convert(exc, RoutesFile, shown, "", "a routes file", data)
        raise SpecErrors(errors) from exc


def _template_errors(routes: list[MockRoute], file: str, prefix: str) -> list[SpecError]:
    """``file: <prefix>routes[i].response.body: template syntax error: ...`` per template.

    jinja2 is imported only if some string holds a template; the server's other modules
    (aiohttp) never are.
    """
    from tempstack.servers.mock.prepared import template_problems

    return [SpecError(file, e.where, e.problem) for e in template_problems(routes, prefix)]


class HttpMockKind(ServerKind):
    name = "http-mock"
    module = "mock"
    requires = ("aiohttp", "jinja2")

    def attributes(self, spec: ServiceSpec) -> frozenset[str]:
        return frozenset({"url", "host", "port", "admin_url"})

    def exports(self, plan: ServicePlan) -> dict[str, str]:
        url = f"http://{plan.host}:{plan.port}"
        return {
            "host": plan.host,
            "port": str(plan.port),
            "url": url,
            "admin_url": f"{url}/__tempstack",
        }

    def check_files(self, spec: ServiceSpec, key: str, root: Path, file: str) -> list[SpecError]:
        """A routes file's problems, and every template that does not compile (one line each).

        Templates are compiled now so that a syntax error fails ``check``, not the start.
        """
        routes = spec_as(spec, HttpMockService).routes
        if not isinstance(routes, str):
            return _template_errors(routes, file, f"{key}.")
        path = root / routes
        shown = str(Path(file).parent / routes)  # as the stack file is shown
        if not path.is_file():
            return [
                SpecError(
                    file,
                    f"{key}.routes",
                    f"routes file {routes!r} does not exist (paths are relative to the "
                    "stack file's directory); give a TOML or JSON file, or the routes inline",
                )
            ]
        try:
            parsed = read_routes_file(path, shown)
            problems = _template_errors(parsed.routes, shown, "")
        except SpecErrors as many:
            problems = many.errors
        except SpecError as exc:
            problems = [exc]
        # a problem with the file as a whole also says where it was named, so a file that is
        # no routes file at all (``routes = "/etc/passwd"``) still names the stack's key
        return [
            e
            if e.key
            else SpecError(e.file, "", f"{e.problem} (the routes file of {key}.routes in {file})")
            for e in problems
        ]

    def config(self, plan: ServicePlan, ctx: PrepareContext) -> dict[str, Any]:
        spec = spec_as(plan.spec, HttpMockService)
        data = super().config(plan, ctx)
        if isinstance(spec.routes, str):
            data["routes_file"] = spec.routes
            data["routes"] = dump_routes(
                read_routes_file(ctx.stack_dir / spec.routes, spec.routes).routes
            )
        else:
            data["routes"] = dump_routes(spec.routes)
        return data
