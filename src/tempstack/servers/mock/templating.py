"""Response templates: jinja2 in a sandbox, compiled once per route, rendered per request.

Only strings holding ``{{``, ``{%`` or ``{#`` are templates; everything else is a literal,
so a mock without templates never imports jinja2 (it is a good part of the start time).
Templates use ``StrictUndefined``: a typo such as ``{{ path.idd }}`` is an error naming the
template, never a silent empty string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

_MARKERS = ("{{", "{%", "{#")
#: a string that is exactly one expression, ``{{ json.count + 1 }}``, keeps the value's type
_ONE_EXPRESSION = re.compile(r"^\{\{((?:(?!\{\{|\}\}).)*)\}\}$", re.DOTALL)

Context = Mapping[str, Any]
#: where every template that does not compile is collected (``check``), instead of raising
Problems = list["TemplateError"] | None


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


class _HeaderText(_Text):
    """A header value: a rendered line break would split it into a forged header."""

    def render(self, ctx: Context) -> str:
        value = super().render(ctx)
        if "\r" in value or "\n" in value:
            raise TemplateError(
                self.where,
                f"the rendered header value {_clip(value)!r} holds a line break (CR or LF), "
                "which a header cannot carry",
            )
        return value


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


def text(source: str, where: str, problems: Problems = None) -> Renderer:
    """A string field (body, chunk): rendered to text.

    A template that does not compile raises ``TemplateError``; given ``problems``, the error
    is added there instead and the source stands as a literal (so every error is found).
    """
    if not is_template(source):
        return Literal(source)
    return _compile(lambda: _Text(where, source), source, problems)


def header(source: str, where: str, problems: Problems = None) -> Renderer:
    """A header value: like ``text``, and rendering a line break is a ``TemplateError``."""
    if not is_template(source):
        return Literal(source)  # the model has already refused literal line breaks
    return _compile(lambda: _HeaderText(where, source), source, problems)


def json_value(value: Any, where: str, problems: Problems = None) -> Renderer:
    """A JSON value whose string leaves may be templates; ``where`` names its root."""
    leaves: dict[tuple[Any, ...], Renderer] = {}

    def leaf(source: str, name: str) -> Renderer:
        one = _ONE_EXPRESSION.match(source)
        if one:
            return _Expression(name, one.group(1))
        return _Text(name, source)

    def visit(node: Any, at: tuple[Any, ...], name: str) -> None:
        if isinstance(node, str) and is_template(node):
            leaves[at] = _compile(lambda: leaf(node, name), node, problems)
        elif isinstance(node, dict):
            for key, child in node.items():
                visit(child, (*at, key), f"{name}.{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                visit(child, (*at, index), f"{name}[{index}]")

    visit(value, (), where)
    return _Tree(value, leaves) if leaves else Literal(value)


def _compile(make: Callable[[], Renderer], source: str, problems: Problems) -> Renderer:
    try:
        return make()
    except TemplateError as exc:
        if problems is None:
            raise
        problems.append(exc)
        return Literal(source)


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
    if name in ("TemplateSyntaxError", "TemplateAssertionError"):  # an unknown filter: the latter
        message = " ".join(message.split())  # one line: it is shown on one by ``check``
        return f"template syntax error: {message} (line {getattr(exc, 'lineno', '?')})"
    if name == "UndefinedError":
        return f"undefined in template: {message}"
    return f"template failed: {name}: {message}"


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _jsonable(value: Any) -> Any:
    """An expression's value made JSON-serialisable (headers and query are multidicts)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)
