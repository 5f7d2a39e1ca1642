"""The snapshot key: what changes it and what does not (no server needed)."""

from __future__ import annotations

from pathlib import Path

from tempstack.engine.snapshot import plan_snapshot
from tempstack.spec.load import load

STACK = """
[stack]
name = "keys"

[services.db]
kind = "postgres"

[services.cache]
kind = "redis"

[services.seed]
kind = "job"
command = ["python3", "seed.py"]
env = { DATABASE_URL = "${db.url}", REDIS_URL = "${cache.url}", MARK = "${MARK:-none}" }
depends_on = { db = "ready" }
snapshot = { inputs = ["seed.py"] }
"""

VERSIONS = {"db": "postgres 15", "cache": "redis 7", "seed": None}


def _key(
    tmp_path: Path, environ: dict[str, str], versions: dict[str, str | None] = VERSIONS
) -> str:
    loaded = load(tmp_path / "tempstack.toml", environ)
    plan = plan_snapshot(loaded, versions.get, tmp_path / "cache", environ=environ)
    assert plan is not None
    return plan.key


def test_what_changes_the_key(tmp_path: Path) -> None:
    (tmp_path / "tempstack.toml").write_text(STACK)
    (tmp_path / "seed.py").write_text("print('seed')\n")
    base = _key(tmp_path, {})
    assert _key(tmp_path, {}) == base  # stable
    assert _key(tmp_path, {"MARK": "two"}) != base  # ${VAR} the job sees
    assert _key(tmp_path, {"UNRELATED": "x"}) == base
    assert _key(tmp_path, {}, {**VERSIONS, "db": "postgres 16"}) != base  # server version
    (tmp_path / "seed.py").write_text("print('seed v2')\n")
    assert _key(tmp_path, {}) != base  # an input's content


def test_services_a_job_names_are_snapshotted_too(tmp_path: Path) -> None:
    (tmp_path / "tempstack.toml").write_text(STACK)
    (tmp_path / "seed.py").write_text("")
    loaded = load(tmp_path / "tempstack.toml", {})
    plan = plan_snapshot(loaded, VERSIONS.get, tmp_path / "cache")
    assert plan is not None
    # cache is only named (${cache.url}), not a dependency, and still holds seeded data
    assert plan.services == ["cache", "db"]
    assert plan.jobs == ["seed"] and not plan.hit
