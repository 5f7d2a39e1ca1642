"""Response templates: jinja2 in a sandbox, compiled once per route, rendered per request.

Only strings holding ``{{``, ``{%`` or ``{#`` are templates; everything else is a literal,
so a mock without templates never imports jinja2 (it is a good part of the start time).
Templates use ``StrictUndefined``: a typo such as ``{{ path.idd }}`` is an error naming the
template, never a silent empty string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

_MARKERS = ("{{", "{%", "{#")
#: a string that is exactly one expression, ``{{ json.count + 1 }}``, keeps the value's type
_ONE_EXPRESSION = re.compile(r"^\{\{((?:(?!\{\{|\}\}).)*)\}\}$", re.DOTALL)

Context = Mapping[str, Any]


class TemplateError(Exception):
    """A template that cannot be compiled or rendered; ``where`` names it."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class Renderer(Protocol):
    def render(self, ctx: Context) -> Any: ...


class Literal:
    def __init__(self, value: Any) -> None:
        self.value = value

    def render(self, ctx: Context) -> Any:
        return self.value


class _Text:
    def __init__(self, where: str, source: str) -> None:
        self.where = where
        try:
            self.template = _env().from_string(source)
        except Exception as exc:  # jinja2.TemplateSyntaxError, without importing jinja2 here
            raise TemplateError(where, _describe(exc)) from exc

    def render(self, ctx: Context) -> str:
        try:
            return self.template.render(ctx)
        except Exception as exc:
            raise TemplateError(self.where, _describe(exc)) from exc


class _Expression:
    """``"{{ expr }}"`` as a JSON leaf: the expression's value, not its text."""

    def __init__(self, where: str, source: str) -> None:
        from jinja2 import Undefined

        self.where = where
        self._undefined = Undefined
        try:
            self.expression = _env().compile_expression(source, undefined_to_none=False)
        except Exception as exc:
            raise TemplateError(where, _describe(exc)) from exc

    def render(self, ctx: Context) -> Any:
        try:
            value = self.expression(**ctx)
            if isinstance(value, self._undefined):
                str(value)  # StrictUndefined raises here, naming what was missing
        except Exception as exc:
            raise TemplateError(self.where, _describe(exc)) from exc
        return _jsonable(value)


class _Tree:
    """A JSON value with templates at some string leaves (and literals everywhere else)."""

    def __init__(self, value: Any, leaves: dict[tuple[Any, ...], Renderer]) -> None:
        self.value = value
        self.leaves = leaves

    def render(self, ctx: Context) -> Any:
        return self._walk(self.value, (), ctx)

    def _walk(self, value: Any, at: tuple[Any, ...], ctx: Context) -> Any:
        if at in self.leaves:
            return self.leaves[at].render(ctx)
        if isinstance(value, dict):
            return {k: self._walk(v, (*at, k), ctx) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, (*at, i), ctx) for i, v in enumerate(value)]
        return value


def is_template(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


def text(source: str, where: str) -> Renderer:
    """A string field (body, header value, chunk): rendered to text."""
    return _Text(where, source) if is_template(source) else Literal(source)


def json_value(value: Any, where: str) -> Renderer:
    """A JSON value whose string leaves may be templates; ``where`` names its root."""
    leaves: dict[tuple[Any, ...], Renderer] = {}

    def visit(node: Any, at: tuple[Any, ...], name: str) -> None:
        if isinstance(node, str) and is_template(node):
            one = _ONE_EXPRESSION.match(node)
            leaves[at] = _Expression(name, one.group(1)) if one else _Text(name, node)
        elif isinstance(node, dict):
            for key, child in node.items():
                visit(child, (*at, key), f"{name}.{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                visit(child, (*at, index), f"{name}[{index}]")

    visit(value, (), where)
    return _Tree(value, leaves) if leaves else Literal(value)


@cache
def _env() -> SandboxedEnvironment:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    # autoescape off: responses are JSON and plain text, not HTML
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


def _describe(exc: Exception) -> str:
    name = type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    if name == "TemplateSyntaxError":
        return f"template syntax error: {message} (line {getattr(exc, 'lineno', '?')})"
    if name == "UndefinedError":
        return f"undefined in template: {message}"
    return f"template failed: {name}: {message}"


def _jsonable(value: Any) -> Any:
    """An expression's value made JSON-serialisable (headers and query are multidicts)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)
