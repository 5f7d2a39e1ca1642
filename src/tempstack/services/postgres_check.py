"""What only the installed PostgreSQL can tell about a postgres service, found at ``check``.

A ``version`` no installed server has, and a setting name the server does not know, are
spec errors (exit 2, naming the file and key) rather than a failed start (exit 3). Names are
checked against ``postgres --describe-config`` of the server the service would run (about
10 ms, once per process); dotted names (``pg_stat_statements.max``) belong to extensions and
are left to the server. With no server installed, or on the Kubernetes backend (the image
brings its own), nothing is checked here: ``check`` reports a missing server on its own.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from tempstack.errors import SpecError
from tempstack.services import binaries

if TYPE_CHECKING:
    from tempstack.spec.model import StackSpec


@functools.cache
def setting_names(bin_dir: Path) -> frozenset[str] | None:
    """Lower-case names of every setting the server in ``bin_dir`` knows; None if unknown."""
    try:
        text = subprocess.run(
            [str(bin_dir / "postgres"), "--describe-config"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = frozenset(line.split("\t", 1)[0].lower() for line in text.splitlines() if line)
    return names or None


def postgres_errors(spec: StackSpec, file: str, prefix: str) -> list[SpecError]:
    """Unknown versions and setting names of every postgres service, one line each."""
    from tempstack.spec.model import PostgresService

    pg = {n: s for n, s in spec.services.items() if isinstance(s, PostgresService)}
    if not pg or spec.stack.backend != "local" or not binaries.postgres_bin_dirs():
        return []
    out: list[SpecError] = []
    for name, svc in pg.items():
        key = ".".join(p for p in (prefix, "services", name) if p)
        found = binaries.matching_postgres(svc.version)
        if found is None:
            have = ", ".join(f"{v} ({p})" for v, p in binaries.postgres_bin_dirs())
            out.append(
                SpecError(
                    file,
                    f"{key}.version",
                    f"PostgreSQL {svc.version} is not installed; installed: {have}; give one "
                    f"of those, drop 'version', or install postgresql-{svc.version}",
                )
            )
            continue
        known = setting_names(found[1])
        if known is None:
            continue
        for setting in svc.settings:
            if "." not in setting and setting.lower() not in known:
                out.append(
                    SpecError(
                        file,
                        f"{key}.settings.{setting}",
                        f"PostgreSQL {found[0]} has no setting {setting!r}; see "
                        "'postgres --describe-config' or the pg_settings view for the names",
                    )
                )
    return out
