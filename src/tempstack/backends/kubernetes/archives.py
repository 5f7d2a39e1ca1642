"""Directory trees as gzipped tars, the form in which files reach a pod through a ConfigMap.

A ConfigMap key cannot hold a directory, and a ConfigMap holds at most 1 MiB; a tree goes
in as one archive that an init container unpacks.
"""

from __future__ import annotations

import functools
import io
import tarfile
from pathlib import Path

import tempstack

_SKIP = {".git", ".tempstack", "__pycache__", "node_modules", ".venv", "venv", ".mypy_cache"}
#: a ConfigMap holds at most 1 MiB, base64 makes 4 bytes of 3
MAX_ARCHIVE = 700 * 1024


def tree(root: Path, arcname: str = ".", skip: frozenset[str] = frozenset()) -> bytes:
    """``root`` without caches, VCS data and virtualenvs (and the relative paths in
    ``skip``), owned by root in the archive."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:

        def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            parts = Path(info.name).parts
            if any(p in _SKIP or p.endswith(".pyc") for p in parts):
                return None
            if "/".join(parts[1:]) in skip:
                return None
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            return info

        tar.add(root, arcname=arcname, filter=keep)
    return buf.getvalue()


@functools.cache
def package() -> bytes:
    """tempstack's own package as this process runs it (about 300 KiB), unpacked so that
    ``PYTHONPATH`` pointing at the destination imports ``tempstack``."""
    # the HTML report's scripts are most of the package and no server needs them
    return tree(Path(tempstack.__file__).parent, "tempstack", frozenset({"report/assets"}))
