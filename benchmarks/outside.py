"""Time to ready of the outside-world kinds, each alone and all together with postgres + redis.

For each kind a one-service stack is brought up with ``stack.up()`` and torn down, ``--runs``
times after one uncounted warm-up; time to ready is from calling ``up()`` until the ``with``
block is entered (the server answered its health check: buckets created, SMTP listening,
keys generated). Each is set against a peer measured in the same loop, alternating:

* ``s3``: moto's own ``moto_server`` started by hand, awaited on its port, then the same
  buckets created with boto3, which is how harnesses use moto today;
* ``mail``: ``python -m aiosmtpd -n`` (SMTP only, no HTTP API), awaited on its port;
* ``http-mock`` and ``oidc``: a bare ``python -m http.server`` awaited with a GET, the floor
  for any Python HTTP server (there is no common hand-made peer for these).

Then the whole stack (s3, mail, http-mock, oidc, postgres, redis), whose median must be under
2 s on the 2-core reference machine (the issue's target).

Usage: ``python benchmarks/outside.py [--runs N] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"
ALL_TARGET = 2.0

KIND_STACKS = {
    "s3": '[services.files]\nkind = "s3"\nbuckets = ["uploads", "avatars"]\n',
    "mail": '[services.mail]\nkind = "mail"\n',
    "http-mock": (
        '[services.api]\nkind = "http-mock"\n'
        'routes = [{ path = "/user", response = { json = { login = "octo" } } }]\n'
    ),
    "oidc": (
        '[services.sso]\nkind = "oidc"\n'
        'clients = [{ id = "web", redirect_uris = ["http://127.0.0.1:9/cb"] }]\n'
        'users = [{ subject = "alice", password = "pw" }]\n'
    ),
}
ALL_STACK = (
    "".join(KIND_STACKS.values())
    + '[services.db]\nkind = "postgres"\n[services.cache]\nkind = "redis"\n'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    pause = 0.002
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"peer exited with {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(pause)
            pause = min(pause * 1.5, 0.25)
    raise TimeoutError(f"port {port} never opened")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def peer_s3() -> float:
    import boto3  # imported once, outside the timing, as a harness process would have it

    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [shutil.which("moto_server") or "moto_server", "-H", HOST, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, proc)
        client = boto3.client(
            "s3",
            endpoint_url=f"http://{HOST}:{port}",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        for bucket in ("uploads", "avatars"):
            client.create_bucket(Bucket=bucket)
        return time.perf_counter() - start
    finally:
        stop(proc)


def peer_process(argv: list[str], port: int, http: bool = False) -> float:
    """Start ``argv`` (already told to listen on ``port``) and wait for it to answer."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        if http:
            httpx.get(f"http://{HOST}:{port}/")
        return time.perf_counter() - start
    finally:
        stop(proc)


def peer_mail() -> float:
    port = free_port()
    return peer_process([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{HOST}:{port}"], port)


def peer_http() -> float:
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", HOST]
    return peer_process(argv, port, http=True)


PEERS: dict[str, tuple[str, Callable[[], float]]] = {
    "s3": ("moto_server + boto3 create_bucket", peer_s3),
    "mail": ("python -m aiosmtpd -n (SMTP only)", peer_mail),
    "http-mock": ("python -m http.server (floor)", peer_http),
    "oidc": ("python -m http.server (floor)", peer_http),
}


def tempstack_up(stack_file: Path) -> tuple[float, float]:
    import tempstack

    stack = tempstack.Stack.load(stack_file)
    start = time.perf_counter()
    with stack.up():
        ready = time.perf_counter() - start
        down_start = time.perf_counter()
    return ready, time.perf_counter() - down_start


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(values),
        "p90": ordered[max(0, -(-9 * len(ordered) // 10) - 1)],
        "min": ordered[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tempstack-bench-", dir="/dev/shm"))
    os.environ["TEMPSTACK_HOME"] = str(home)
    workdir = Path(tempfile.mkdtemp(prefix="tempstack-bench-stacks-"))
    results: dict[str, Any] = {"runs": args.runs, "kinds": {}}
    try:
        for kind, body in KIND_STACKS.items():
            path = workdir / f"{kind}.toml"
            path.write_text(f'[stack]\nname = "bench-{kind}"\n{body}')
            peer_name, peer = PEERS[kind]
            tempstack_up(path), peer()  # warm-up: page cache, .pyc files
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(tempstack_up(path)[0])
                theirs.append(peer())
            mine, other = summary(ours), summary(theirs)
            results["kinds"][kind] = {
                "tempstack": mine,
                "peer": {"what": peer_name, **other},
                "ratio": mine["median"] / other["median"],
            }
            print(
                f"{kind:<10} tempstack median {mine['median'] * 1000:6.0f} ms "
                f"(p90 {mine['p90'] * 1000:4.0f})   peer {other['median'] * 1000:6.0f} ms "
                f"[{peer_name}]   ratio {mine['median'] / other['median']:.2f}"
            )
        path = workdir / "all.toml"
        path.write_text(f'[stack]\nname = "bench-all"\n{ALL_STACK}')
        tempstack_up(path)
        ready, down = zip(*(tempstack_up(path) for _ in range(args.runs)), strict=True)
        whole, teardown = summary(list(ready)), summary(list(down))
        results["all"] = {"ready": whole, "teardown": teardown, "target": ALL_TARGET}
        verdict = "within" if whole["median"] < ALL_TARGET else "OVER"
        print(
            f"all six   ready median {whole['median'] * 1000:6.0f} ms "
            f"(p90 {whole['p90'] * 1000:4.0f}), teardown median "
            f"{teardown['median'] * 1000:4.0f} ms: {verdict} the {ALL_TARGET:.0f} s target"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if results["all"]["ready"]["median"] < ALL_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
