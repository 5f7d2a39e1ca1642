"""Wall time of the whole demo run, and the share of it that is tempstack's own.

Runs ``tempstack run -f examples/shop/tempstack.toml`` as a user would (a fresh process
each time, reports and history written) and splits each run's wall time, measured from
outside, with the journal's own timestamps:

* **stages**: the test stages themselves (api, browser, load): the work the user asked for;
* **start**: from the run's start until every service is ready, split further into the
  demo's own jobs and app start (``migrate`` and ``seed`` running, ``web`` from spawn to
  ready: the application's code, not ours) and tempstack's part (the rest);
* **teardown**: stopping every service and removing the run directory;
* **reports and process**: CLI start-up, writing journal/junit/summary/HTML/history, exit.

tempstack's share = (wall - stages - the demo's own jobs and app start) / wall. The ratio is
taken within each run, so it does not depend on how fast the machine is that day.

Usage: ``python benchmarks/demo.py [--runs N] [--json PATH] [-f STACK_FILE]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("migrate", "seed", "web")  # the demo's own code: jobs and the app


def _event(journal: dict[str, Any], kind: str) -> float:
    return next(e["t"] for e in journal["events"] if e["kind"] == kind)


def one_run(stack_file: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="tempstack-bench-") as tmp:
        report = Path(tmp) / "report"
        began = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tempstack.cli",
                "run",
                "-f",
                str(stack_file),
                "--report-dir",
                str(report),
                "--no-history",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - began
        if done.returncode != 0:
            raise SystemExit(f"the demo run failed ({done.returncode}):\n{done.stderr[-3000:]}")
        journal = json.loads((report / "journal.json").read_text())
    services = {s["name"]: s["timings"] for s in journal["services"]}
    app = sum(
        services[n].get("completed", services[n].get("ready", 0.0)) - services[n]["started"]
        for n in APP_SERVICES
        if n in services and "started" in services[n]
    )
    ready = _event(journal, "run.ready")
    stopping, stopped = _event(journal, "run.stopping"), _event(journal, "run.stopped")
    stages = sum(s["duration"] for s in journal["stages"])
    per_stage = {f"stage {s['stage']}": s["duration"] for s in journal["stages"]}
    return {
        "wall": wall,
        "start": ready,
        "app jobs and start": app,
        "stages": stages,
        **per_stage,
        "teardown": stopped - stopping,
        "reports and process": wall - stopped,
        "tempstack": wall - stages - app,
        "share": (wall - stages - app) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("-f", "--file", type=Path, default=ROOT / "examples/shop/tempstack.toml")
    args = parser.parse_args()
    one_run(args.file)  # warm-up: initdb cache, Python bytecode, Chromium's profile
    runs = [one_run(args.file) for _ in range(args.runs)]
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"demo: {args.file.relative_to(ROOT)}, median of {args.runs} runs")
    for key, value in medians.items():
        shown = f"{value * 100:5.1f} %" if key == "share" else f"{value:7.2f} s"
        print(f"  {key:<24} {shown}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "median": medians}, indent=2))


if __name__ == "__main__":
    main()
