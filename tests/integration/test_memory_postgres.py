"""The memory sampler on a real PostgreSQL: each client's backend counts in the tree."""

from __future__ import annotations

import psycopg

import tempstack
from tempstack.profile.memory import MemorySampler, _process_table, _tree

STACK = """
[stack]
name = "memory"

[services.db]
kind = "postgres"
"""


def test_postgres_backends_are_part_of_the_tree(write_stack) -> None:  # type: ignore[no-untyped-def]
    stack = tempstack.Stack.load(write_stack(STACK))
    with stack.up() as run:
        pid = run.services["db"].pid
        assert pid is not None
        connections = [psycopg.connect(run.env["DB_URL"]) for _ in range(3)]
        try:
            backends = {conn.info.backend_pid for conn in connections}
            sampler = MemorySampler(lambda: {"db": pid}, interval=3600)
            sampler.start()
            stats = sampler.stop()["db"]
            tree = set(_tree(pid, _process_table()))
        finally:
            for conn in connections:
                conn.close()
    assert backends <= tree, (backends, tree)
    # the postmaster, its background workers and the three backends
    assert stats["processes"] >= 1 + len(backends)
    assert 0 < stats["mean_rss"] <= stats["peak_rss"]
