"""What users type: the ``tempstack`` command against doing the same thing by hand.

Five figures, each against its peer, measured alternately (tempstack, peer, tempstack, ...)
in one process after an uncounted warm-up of each:

1. ``tempstack --help`` against ``python -c "import click"`` (the same interpreter): the
   floor of any click command.
2. ``tempstack up --detach`` of postgres + redis, until the command returns (every service
   ready), against the bare way: ``initdb`` + ``pg_ctl start -w`` + ``redis-server
   --daemonize yes`` until it answers PING.
3. ``tempstack down RUN`` of that run, until it returns, against ``pg_ctl stop -m fast`` +
   ``redis-cli shutdown`` + removing the directory.
4. ``tempstack run``'s fixed cost: from exec to the moment the first service's process
   starts (the service writes the time itself, ``date +%s.%N``); no peer, target < 0.2 s.
5. Eight at once: eight ``tempstack up --detach`` started together, until all returned,
   against eight bare starts in parallel; then ``tempstack down --all`` against eight bare
   stops in parallel.

Targets (issue 15 and 20): --help <= 3x, up --detach <= 0.5x, down <= 2x, fixed cost < 0.2 s;
eight at once ready within 4 s and ``down --all`` within 2 s on a 2-core machine. Ratios are
what to compare; absolute times on a shared machine are noise.

Runs under a fresh ``TEMPSTACK_HOME`` in /dev/shm (its first ``up`` builds the per-machine
initdb cache: that is the warm-up). At the end it asserts that nothing it started is left.

Usage: ``python benchmarks/cli.py [--runs N] [--parallel N] [--json PATH]``
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import port_for
from _peer import HOST, Tracker, fresh_root, median, newest_postgres_bin, p90, pg_owner

STACK = """\
[stack]
name = "{name}"

[services.db]
kind = "postgres"
version = "{pg_major}"

[services.cache]
kind = "redis"
"""

RUN_STACK = STACK + """
[services.stamp]
command = ["sh", "-c", "date +%s.%N > {stamp}; exec sleep 600"]

[stages.noop]
run = "true"
"""


def tempstack_exe() -> list[str]:
    beside = Path(sys.executable).parent / "tempstack"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "tempstack"]


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    t = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - t
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return took, done.stdout


def last_run_id(stdout: str) -> str:
    for line in reversed(stdout.splitlines()):
        word = line.strip()
        if word.startswith("bench") and " " not in word:
            return word
    sys.exit(f"no run id in the output of up --detach:\n{stdout}")


# -- the bare way --------------------------------------------------------------------------------
class Bare:
    """postgres + redis started by hand, as a shell script would."""

    def __init__(self, root: Path, pg_bin: Path, tracker: Tracker) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bare-", dir=root))
        self.pg_bin, self.tracker = pg_bin, tracker
        self.owner = pg_owner()
        self.prefix: list[str] = []
        if self.owner is not None:
            os.chown(self.dir, *self.owner)
            uid, gid = self.owner
            self.prefix = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
        self.pg_port = self.redis_port = 0

    def _pg(self, *argv: str) -> None:
        subprocess.run([*self.prefix, *argv], check=True, capture_output=True, cwd="/")

    def up(self) -> None:
        data = self.dir / "data"
        self.pg_port, self.redis_port = port_for.select_random(), port_for.select_random()
        self.tracker.ports.update({self.pg_port, self.redis_port})
        self._pg(str(self.pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust")
        options = f"-p {self.pg_port} -k {self.dir} -c listen_addresses={HOST}"
        self._pg(str(self.pg_bin / "pg_ctl"), "-D", str(data), "-o", options,
                 "-l", str(self.dir / "pg.log"), "-w", "start")
        pid = int((data / "postmaster.pid").read_text().split()[0])
        self.tracker.track("bare postgres", pid)
        subprocess.run(["redis-server", "--port", str(self.redis_port), "--bind", HOST,
                        "--daemonize", "yes", "--dir", str(self.dir), "--save", "",
                        "--pidfile", str(self.dir / "redis.pid")], check=True,
                       capture_output=True)
        deadline = time.monotonic() + 10
        while not self._redis_pong():
            if time.monotonic() > deadline:
                sys.exit("bare redis-server did not answer PING within 10 s")
            time.sleep(0.005)
        self.tracker.track("bare redis", int((self.dir / "redis.pid").read_text()))

    def _redis_pong(self) -> bool:
        try:
            with socket.create_connection((HOST, self.redis_port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def down(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._pg(str(self.pg_bin / "pg_ctl"), "-D", str(self.dir / "data"),
                     "-m", "fast", "-w", "stop")
        subprocess.run(["redis-cli", "-h", HOST, "-p", str(self.redis_port), "shutdown",
                        "nosave"], capture_output=True, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


# -- the measurements ----------------------------------------------------------------------------
class Bench:
    def __init__(self, root: Path, pg_major: str, pg_bin: Path) -> None:
        self.root, self.pg_bin = root, pg_bin
        self.tracker = Tracker(root)
        self.env = {**os.environ, "TEMPSTACK_HOME": str(root / "home"), "NO_COLOR": "1"}
        self.env.pop("TEMPSTACK_MAX_RUNS", None)
        self.project = root / "project"
        self.project.mkdir()
        (self.project / "tempstack.toml").write_text(STACK.format(name="bench", pg_major=pg_major))
        self.stamp = root / "stamp"
        (self.project / "run.toml").write_text(
            RUN_STACK.format(name="benchrun", pg_major=pg_major, stamp=self.stamp))
        self.exe = tempstack_exe()
        self.figures: dict[str, list[float]] = {}

    def add(self, key: str, value: float) -> None:
        self.figures.setdefault(key, []).append(value)

    def ts(self, *args: str) -> tuple[float, str]:
        return timed([*self.exe, *args], self.env, self.project)

    def help_pair(self) -> None:
        self.add("help", self.ts("--help")[0])
        self.add("help_peer", timed([sys.executable, "-c", "import click"], self.env,
                                    self.project)[0])

    def up_down_pair(self) -> None:
        took, out = self.ts("up", "--detach")
        run_id = last_run_id(out)
        self.tracker.run_ids.add(run_id)
        self.add("up", took)
        self.add("down", self.ts("down", run_id)[0])
        bare = Bare(self.root, self.pg_bin, self.tracker)
        t = time.perf_counter()
        bare.up()
        self.add("up_peer", time.perf_counter() - t)
        t = time.perf_counter()
        bare.down()
        self.add("down_peer", time.perf_counter() - t)

    def run_fixed_cost(self) -> None:
        self.stamp.unlink(missing_ok=True)
        t = time.time()
        self.ts("run", "-f", "run.toml", "--report-dir", str(self.root / "reports"))
        self.add("run_fixed", float(self.stamp.read_text()) - t)

    def parallel(self, n: int) -> None:
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            t = time.perf_counter()
            outs = list(pool.map(lambda _: self.ts("up", "--detach")[1], range(n)))
            self.add("parallel_up", time.perf_counter() - t)
            self.tracker.run_ids.update(last_run_id(o) for o in outs)
            self.add("parallel_down", self.ts("down", "--all")[0])
            bares = [Bare(self.root, self.pg_bin, self.tracker) for _ in range(n)]
            self.add("parallel_up_peer", wall(pool, [b.up for b in bares]))
            self.add("parallel_down_peer", wall(pool, [b.down for b in bares]))


def wall(pool: concurrent.futures.ThreadPoolExecutor, calls: list[Callable[[], None]]) -> float:
    t = time.perf_counter()
    for future in [pool.submit(call) for call in calls]:
        future.result()
    return time.perf_counter() - t


PAIRS = [  # (figure, peer, target ratio)
    ("help", "help_peer", 3.0),
    ("up", "up_peer", 0.5),
    ("down", "down_peer", 2.0),
    ("parallel_up", "parallel_up_peer", None),
    ("parallel_down", "parallel_down_peer", None),
]


def report(figures: dict[str, list[float]], parallel: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    print(f"\n{'figure':24} {'tempstack':>12} {'peer':>12} {'ratio':>7} {'target':>8}")
    for key, peer, target in PAIRS:
        ts, pe = median(figures[key]), median(figures[peer])
        ratio = ts / pe
        out[key] = {"median_s": ts, "p90_s": p90(figures[key]), "peer_median_s": pe,
                    "ratio": ratio, "target_ratio": target, "samples_s": figures[key],
                    "peer_samples_s": figures[peer]}
        label = key.replace("parallel_", f"{parallel} at once, ")
        tgt = f"<= {target}" if target else ""
        print(f"{label:24} {ts * 1000:9.0f} ms {pe * 1000:9.0f} ms {ratio:7.2f} {tgt:>8}")
    fixed = median(figures["run_fixed"])
    out["run_fixed"] = {"median_s": fixed, "samples_s": figures["run_fixed"], "target_s": 0.2}
    print(f"{'run: exec to 1st spawn':24} {fixed * 1000:9.0f} ms {'':>12} {'':>7} {'< 200 ms':>8}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pg_major, pg_bin = newest_postgres_bin()
    root = fresh_root()
    bench = Bench(root, pg_major, pg_bin)
    try:
        bench.help_pair()  # warm-up: the first up builds the per-machine initdb cache
        bench.up_down_pair()
        bench.run_fixed_cost()
        bench.figures.clear()
        for i in range(args.runs):
            print(f"iteration {i + 1}/{args.runs}", file=sys.stderr)
            bench.help_pair()
            bench.up_down_pair()
            bench.run_fixed_cost()
        for i in range(max(1, args.runs // 2)):
            print(f"{args.parallel} at once {i + 1}", file=sys.stderr)
            bench.parallel(args.parallel)
        result = report(bench.figures, args.parallel)
    finally:
        subprocess.run([*bench.exe, "down", "--all"], env=bench.env, capture_output=True,
                       check=False)
        left = bench.tracker.leftovers()
        shutil.rmtree(root, ignore_errors=True)
    if left:
        sys.exit("left behind:\n" + "\n".join(left))
    print("nothing left behind")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
