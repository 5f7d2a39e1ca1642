"""Time to a ready seeded stack: tempstack with its snapshot, without it, and pytest-postgresql.

The stack: PostgreSQL, a ``migrate`` job (four tables with keys and indexes) and a ``seed`` job
(about 40,000 deterministic rows, ``COPY`` by default, ``--seed executemany`` for INSERTs), both
jobs with ``snapshot = { inputs = [...] }``. Three sides, measured in the same loop,
alternating (warm, no snapshot, peer, warm, ...), after one uncounted warm-up of each:

* tempstack warm: ``Stack.load(p).up()`` until the ``with`` block is entered, the snapshot
  restored and both jobs skipped (the warm-up run built the snapshot);
* tempstack without the snapshot: ``stack.up(use_cache=False)``, both jobs run
  (``python migrate.py``, ``python seed.py``), as on a first run or with ``--no-cache``;
* the peer: what pytest-postgresql's ``postgresql_proc(load=[schema.sql, seed.load])`` does,
  called directly: ``pg_ctl initdb``, ``pg_ctl start -w``, a ``DatabaseJanitor`` creating the
  template database and loading the same migration file and the same seed function into it.
  Ready is when that loaded template exists (a test's own clone of it is not counted).

Both sides run the same SQL with the same data, from the same binaries, on /dev/shm. Teardown
is timed separately. Every counted iteration checks, untimed, that the seeded rows are there.
At the end the script asserts that nothing it started is left.

Usage: ``python benchmarks/warm_start.py [--runs N] [--seed copy|executemany] [--json PATH]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from _peer import (
    ROWS,
    PeerPg,
    PeerPostgres,
    Project,
    Series,
    Tracker,
    count_rows,
    database_size,
    fresh_root,
    ms,
    newest_postgres_bin,
    peer_pg_ctl,
    pkg_version,
    write_project,
)

import tempstack

STACK_NAME = "warm-bench"
TARGET = 0.2  # the target: tempstack warm at most 0.2 x the peer
SIDES = ("warm", "nosnap", "peer")
LABELS = {
    "warm": "tempstack warm (snapshot restored, jobs skipped)",
    "nosnap": "tempstack without snapshot (use_cache=False)",
    "peer": "peer (pytest-postgresql postgresql_proc, load=)",
}


# -- tempstack -----------------------------------------------------------------------------------
def journal_parts(report_dir: Path) -> dict[str, float]:
    """When things happened in a run (seconds since its start), from its own journal."""
    try:
        events = json.loads((report_dir / "journal.json").read_text())["events"]
    except (OSError, ValueError, KeyError):
        return {}
    parts: dict[str, float] = {}
    wanted = {
        ("service.started", "db"): "db_spawned_at",  # after the data dir was copied in
        ("service.listening", "db"): "db_listening_at",
        ("service.ready", "db"): "db_ready_at",
        ("service.completed", "migrate"): "migrate_done_at",
        ("service.completed", "seed"): "seed_done_at",
        ("service.seeded", "db"): "template_made_at",
        ("snapshot.saved", None): "snapshot_saved_at",
        ("run.ready", None): "run_ready_at",
    }
    for ev in events:
        label = wanted.get((ev["kind"], ev.get("service")))
        if label is not None and label not in parts:
            parts[label] = ev["t"]
    return parts


def tempstack_iteration(
    stack: tempstack.Stack, tracker: Tracker, *, use_cache: bool, expect: str | None
) -> tuple[float, float, dict[str, float]]:
    """``expect``: the snapshot state the db must be in ("restored", "saved" or None)."""
    t0 = time.perf_counter()
    with stack.up(use_cache=use_cache) as run:
        t_ready = time.perf_counter()
        # untimed: the data is there, the snapshot did what this side is about
        tracker.run_ids.add(run.id)
        for name, info in run.services.items():
            tracker.track(f"tempstack {name}", info.pid)
            if info.port is not None:
                tracker.ports.add(info.port)
        state = run._engine.status["db"].snapshot
        assert state == expect, f"snapshot state of db is {state!r}, expected {expect!r}"
        rows = count_rows(run.env["DB_URL"])
        assert rows == ROWS, f"tempstack holds {rows}, expected {ROWS}"
        report_dir = run.report_dir
        t_leave = time.perf_counter()
    t_down = time.perf_counter()
    return t_ready - t0, t_down - t_leave, journal_parts(report_dir)


# -- the peer ------------------------------------------------------------------------------------
def peer_iteration(
    project: Project, peer_root: Path, pg: PeerPg, tracker: Tracker
) -> tuple[float, float, dict[str, float]]:
    peer = PeerPostgres(peer_root, pg, tracker)
    try:
        t0 = time.perf_counter()
        peer.start(project.peer_load())
        ready = time.perf_counter() - t0
        rows = count_rows(peer.dsn("tests_tmpl"))  # untimed
        assert rows == ROWS, f"the peer holds {rows}, expected {ROWS}"
        t1 = time.perf_counter()
        peer.stop()
        teardown = time.perf_counter() - t1
    except BaseException:
        with contextlib.suppress(Exception):
            peer.stop()
        raise
    finally:
        peer.remove_dirs()
    return ready, teardown, dict(peer.parts)


def seeded_size(project: Project, peer_root: Path, pg: PeerPg, tracker: Tracker) -> int:
    """Size of the seeded database (untimed, once), to say how much data is involved."""
    peer = PeerPostgres(peer_root, pg, tracker)
    try:
        peer.start(project.peer_load())
        return database_size(peer.dsn("tests_tmpl"))
    finally:
        try:
            peer.stop()
        finally:
            peer.remove_dirs()


# -- output --------------------------------------------------------------------------------------
def print_table(runs: int, sums: dict[str, dict[str, Any]]) -> None:
    width = max(len(v) for v in LABELS.values())
    head = f"{'':<{width}}  {'ready median':>12}  {'ready p90':>12}  {'down median':>12}"
    print(f"\n{runs} iterations each, interleaved; p90 is nearest-rank")
    print(head)
    print("-" * len(head))
    for side in SIDES:
        s = sums[side]
        print(
            f"{LABELS[side]:<{width}}  {ms(s['ready_median_s']):>12}  {ms(s['ready_p90_s']):>12}  "
            f"{ms(s['teardown_median_s']):>12}"
        )


def print_parts(label: str, parts: dict[str, float]) -> None:
    text = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in parts.items())
    print(f"{label} (medians): {text}")


def run_benchmark(runs: int, seed_method: str, json_path: Path | None) -> int:
    root = fresh_root()
    os.environ["TEMPSTACK_HOME"] = str(root / "home")
    tracker = Tracker(root)
    pg_major, pg_bin = newest_postgres_bin()
    project = write_project(root / "project", STACK_NAME, pg_major, seed_method)
    peer_root = root / "peer"
    peer_root.mkdir(mode=0o755)
    extra_dirs: list[Path] = []
    result: dict[str, Any] = {}
    try:
        stack = tempstack.Stack.load(project.stack_file)
        print(f"TEMPSTACK_HOME={os.environ['TEMPSTACK_HOME']} (fresh; tmpfs)")
        print(f"PostgreSQL {pg_major} from {pg_bin}; seed: {ROWS} ({seed_method})")

        # warm-ups, not counted: the first tempstack run builds the initdb cache and the
        # snapshot (the cost a developer pays once per change of the inputs)
        t = time.perf_counter()
        first = tempstack_iteration(stack, tracker, use_cache=True, expect="saved")
        first_total = time.perf_counter() - t
        print(
            f"first tempstack run (builds initdb cache + snapshot; not counted): ready "
            f"{ms(first[0])}, teardown {ms(first[1])}"
        )
        pg = peer_pg_ctl(pg_bin, root, extra_dirs)
        print(pg.note)
        size = seeded_size(project, peer_root, pg, tracker)
        print(f"seeded database: {size / 1e6:.1f} MB (pg_database_size)")
        tempstack_iteration(stack, tracker, use_cache=False, expect=None)
        peer_iteration(project, peer_root, pg, tracker)
        print("warm-ups done (one of each side, not counted)")

        series = {side: Series() for side in SIDES}
        for i in range(runs):
            series["warm"].add(
                *tempstack_iteration(stack, tracker, use_cache=True, expect="restored")
            )
            series["nosnap"].add(*tempstack_iteration(stack, tracker, use_cache=False, expect=None))
            series["peer"].add(*peer_iteration(project, peer_root, pg, tracker))
            print(
                f"  run {i + 1:>2}/{runs}: "
                + " | ".join(f"{side} {ms(series[side].ready[-1])}" for side in SIDES),
                flush=True,
            )

        sums = {side: series[side].summary() for side in SIDES}
        warm, nosnap, peer = (sums[s]["ready_median_s"] for s in SIDES)
        warm_peer, warm_nosnap = warm / peer, warm / nosnap
        print_table(runs, sums)
        print(
            f"\nwarm / peer (ready medians):        {warm_peer:.3f}  "
            f"(target <= {TARGET}: {'met' if warm_peer <= TARGET else 'MISSED'}; "
            f"the peer takes {peer / warm:.1f}x as long)"
        )
        print(f"warm / no snapshot (ready medians): {warm_nosnap:.3f}")
        for side in SIDES:
            print_parts(f"{side} parts", sums[side]["parts_median_s"])
        print(
            "tempstack parts are times since the run's start from its journal; "
            "the peer's are durations of its steps"
        )
        summary = {
            "benchmark": "warm_start",
            "runs": runs,
            "seed": seed_method,
            "rows": sum(ROWS.values()),
            "seeded_db_bytes": size,
            "warm_ms": round(warm * 1000, 1),
            "nosnap_ms": round(nosnap * 1000, 1),
            "peer_ms": round(peer * 1000, 1),
            "warm_over_peer": round(warm_peer, 3),
            "warm_over_nosnap": round(warm_nosnap, 3),
            "target_met": warm_peer <= TARGET,
        }
        result = {
            "summary": summary,
            "interleaved": True,
            "percentile": "nearest-rank p90",
            "rows": ROWS,
            **{side: sums[side] for side in SIDES},
            "first_run": {"ready_s": first[0], "teardown_s": first[1], "total_s": first_total},
            "environment": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "loadavg_at_end": os.getloadavg(),
                "postgresql_major": pg_major,
                "tempstack": tempstack.__version__,
                "pytest-postgresql": pkg_version("pytest-postgresql"),
                "psycopg": pkg_version("psycopg"),
                "tempstack_home": "fresh temp dir in /dev/shm",
            },
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
        for extra in extra_dirs:
            shutil.rmtree(extra, ignore_errors=True)

    left = tracker.leftovers()
    assert not left, "processes left running:\n" + "\n".join(left)
    print(
        f"cleanup: nothing left running ({len(tracker.run_ids)} tempstack runs, "
        f"{len(tracker.processes)} processes and {len(tracker.ports)} ports checked with psutil)"
    )
    print(json.dumps(result["summary"]))
    if json_path is not None:
        result["leftover_processes"] = left
        json_path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures written to {json_path}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="counted iterations of each side")
    parser.add_argument(
        "--seed",
        choices=("copy", "executemany"),
        default="copy",
        help="how seed.py inserts its rows, on both sides (default: copy)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_benchmark(args.runs, args.seed, args.json)


if __name__ == "__main__":
    sys.exit(main())
