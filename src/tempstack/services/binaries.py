"""Find the programs a kind needs, on PATH and in the usual distribution places."""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

from tempstack.errors import MissingBinaryError


def find(program: str, package: str, service: str, extra_dirs: tuple[str, ...] = ()) -> Path:
    """The path of ``program``; the error names the Debian/Ubuntu package that provides it."""
    found = shutil.which(program)
    if found:
        return Path(found)
    for pattern in extra_dirs:
        for directory in sorted(glob.glob(pattern), reverse=True):
            candidate = Path(directory) / program
            if os.access(candidate, os.X_OK):
                return candidate
    raise MissingBinaryError(
        f"{service}: '{program}' was not found on PATH"
        + (f" or in {', '.join(extra_dirs)}" if extra_dirs else "")
        + f"; install it (Debian/Ubuntu: apt-get install {package})",
        service=service,
    )


@functools.cache
def postgres_bin_dirs() -> list[tuple[str, Path]]:
    """(major version, bin dir) for each installed PostgreSQL, PATH's first, newest next."""
    dirs: list[Path] = []
    on_path = shutil.which("postgres")
    if on_path:
        dirs.append(Path(os.path.realpath(on_path)).parent)
    dirs += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    dirs += [Path(p) for p in sorted(glob.glob("/usr/pgsql-*/bin"), reverse=True)]
    out: list[tuple[str, Path]] = []
    for d in dict.fromkeys(dirs):
        if not (d / "postgres").exists() or not (d / "initdb").exists():
            continue
        version = postgres_version(d)
        if version:
            out.append((version, d))
    return out


@functools.cache
def postgres_version(bin_dir: Path) -> str | None:
    """The full version string (``15.18``) of the server in ``bin_dir``."""
    try:
        text = subprocess.run(
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    m = re.search(r"(\d+(?:\.\d+)*)", text)
    return m.group(1) if m else None


def matching_postgres(version: str | None) -> tuple[str, Path] | None:
    """The installed server for ``version`` (same string or same major), the first if None."""
    installed = postgres_bin_dirs()
    if version is None:
        return installed[0] if installed else None
    major = version.split(".")[0]
    return next(((v, p) for v, p in installed if v == version or v.split(".")[0] == major), None)
