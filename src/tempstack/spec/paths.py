"""Paths in the stack file, checked before anything starts.

Every relative path is relative to the stack file's directory (the project). A literal
``cwd`` must be a directory there; one holding ``${...}`` is known only at start. A job's
snapshot inputs must stay inside the project: they are what the cached result depends on,
and hashing ``../../../../etc/**`` would read (and key the cache on) the whole machine.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import TYPE_CHECKING

from tempstack.errors import SpecError
from tempstack.spec.fields import describe

if TYPE_CHECKING:
    from tempstack.spec.model import StackSpec


def inside_project(pattern: str) -> str:
    """A snapshot input pattern that cannot reach outside the stack file's directory."""
    if posixpath.normpath(pattern).split("/")[0] == "..":
        raise ValueError(
            f"{describe(pattern)} reaches outside the project; snapshot inputs are patterns "
            "inside the stack file's directory, such as 'migrations/**'"
        )
    return pattern


def cwd_problem(cwd: str | None, root: Path) -> str | None:
    """Why a literal ``cwd`` cannot be used (missing, or not a directory), or None."""
    if cwd is None or "${" in cwd:
        return None
    path = root / cwd
    if path.is_dir():
        return None
    what = "is not a directory" if path.exists() else "no such directory"
    return f"{describe(cwd)}: {what} (relative to {root}); give an existing directory"


def path_errors(spec: StackSpec, root: Path, file: str, prefix: str) -> list[SpecError]:
    """A service's ``cwd`` problems, one line each."""
    out: list[SpecError] = []
    for name, svc in spec.services.items():
        problem = cwd_problem(getattr(svc, "cwd", None), root)
        if problem:
            key = ".".join(p for p in (prefix, "services", name, "cwd") if p)
            out.append(SpecError(file, key, problem))
    return out
