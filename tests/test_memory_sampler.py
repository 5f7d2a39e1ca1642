"""The memory sampler against real processes: whole trees, vanishing processes, prompt stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tempstack.profile.memory import MemorySampler, _process_table, _tree

MiB = 1024 * 1024

# The child allocates (and touches) 40 MiB, starts a grandchild that does the same, prints
# both pids once the grandchild has its memory, then waits until its stdin closes. The
# grandchild waits until it is killed.
_HOLDER = """
import subprocess, sys
block = b"\\x01" * (40 * 1024 * 1024)
if sys.argv[1:] == ["grandchild"]:
    print("ready", flush=True)
    sys.stdin.read()
    raise SystemExit
grandchild = subprocess.Popen(
    [sys.executable, "-c", sys.argv[1], "grandchild"],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
)
assert grandchild.stdout.readline() == "ready\\n"
print(grandchild.pid, flush=True)
sys.stdin.read()
grandchild.kill()
grandchild.wait()
"""


@dataclass
class Tree:
    child: subprocess.Popen[str]
    grandchild: int


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def tree() -> Iterator[Tree]:
    """A python child and grandchild holding 40 MiB each; both killed by pid at the end."""
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, _HOLDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    grandchild = 0
    try:
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        yield Tree(child, grandchild)
    finally:
        # The grandchild first: until the child dies it stays the child's (unreaped) zombie,
        # so its pid cannot have been reused by then.
        if grandchild:
            _kill(grandchild)
        _kill(child.pid)
        child.communicate()  # reaps it and closes its pipes


def test_peak_covers_the_whole_tree(tree: Tree) -> None:
    sampler = MemorySampler(lambda: {"app": tree.child.pid}, interval=0.05)
    sampler.start()
    stats = sampler.stop()
    app = stats["app"]
    # Each process holds 40 MiB plus an interpreter: only the sum of both passes 80 MiB.
    assert app["peak_rss"] > 80 * MiB, app
    assert app["processes"] == 2
    assert app["samples"] >= 2  # one at start, one at stop
    assert 0 < app["mean_rss"] <= app["peak_rss"]
    assert sampler.last_error is None


def test_stats_have_the_journal_shape(tree: Tree) -> None:
    from tempstack.report.schema import MemoryStats

    sampler = MemorySampler(lambda: {"app": tree.child.pid}, interval=0.05)
    sampler.start()
    MemoryStats.model_validate(sampler.stop()["app"])


def test_stop_is_prompt_and_idempotent(tree: Tree) -> None:
    """With an hour between samples, stop must not wait for the next one."""
    sampler = MemorySampler(lambda: {"app": tree.child.pid}, interval=3600)
    sampler.start()
    stopper = threading.Thread(target=sampler.stop)
    stopper.start()
    stopper.join(timeout=60)
    assert not stopper.is_alive(), "stop waited for the sampling interval"
    first = sampler.stop()
    assert first["app"]["samples"] == 2
    assert sampler.stop() == first  # no further sample
    assert not [t for t in threading.enumerate() if t.name == "tempstack-memory-sampler"]


def test_samples_keep_coming_while_running(tree: Tree) -> None:
    sampler = MemorySampler(lambda: {"app": tree.child.pid}, interval=0.05)
    sampler.start()
    try:
        deadline = time.monotonic() + 30
        while sampler.stats().get("app", {}).get("samples", 0) < 5:
            assert time.monotonic() < deadline, "the sampler thread takes no samples"
            time.sleep(0.02)
    finally:
        sampler.stop()


def test_a_vanishing_grandchild_does_not_stop_the_sampler(tree: Tree) -> None:
    sampler = MemorySampler(lambda: {"app": tree.child.pid}, interval=0.05)
    sampler.start()
    _kill(tree.grandchild)
    # Once the grandchild has been reaped, the tree is the child alone.
    deadline = time.monotonic() + 30
    while tree.grandchild in _tree(tree.child.pid, _process_table()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    sampler.sample()
    stats = sampler.stop()["app"]
    assert stats["processes"] == 2  # the most seen at once
    assert stats["peak_rss"] > 80 * MiB
    assert sampler.last_error is None


def test_a_service_that_is_gone_has_no_figures() -> None:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    sampler = MemorySampler(lambda: {"gone": done.pid, "me": os.getpid()}, interval=0.05)
    sampler.start()
    stats = sampler.stop()
    assert "gone" not in stats
    assert stats["me"]["samples"] == 2
    assert sampler.last_error is None


def test_a_failing_pid_source_is_survived(tree: Tree) -> None:
    calls = 0

    def pids() -> dict[str, int]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the engine's handles changed under us")
        return {"app": tree.child.pid}

    sampler = MemorySampler(pids, interval=0.05)
    sampler.start()
    deadline = time.monotonic() + 30
    while calls < 4:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    stats = sampler.stop()
    assert isinstance(sampler.last_error, RuntimeError)
    assert stats["app"]["samples"] >= 3


def test_services_appear_when_they_start(tree: Tree) -> None:
    running: dict[str, int] = {}
    sampler = MemorySampler(lambda: dict(running), interval=0.05)
    sampler.start()
    assert sampler.stats() == {}
    running["app"] = tree.child.pid
    stats = sampler.stop()
    assert stats["app"]["samples"] >= 1


def test_start_twice_is_refused() -> None:
    sampler = MemorySampler(lambda: {}, interval=0.05)
    sampler.start()
    try:
        with pytest.raises(RuntimeError):
            sampler.start()
    finally:
        assert sampler.stop() == {}


def test_process_names_with_spaces_and_parentheses() -> None:
    """/proc/<pid>/stat holds the name in parentheses; a name may contain ') ('."""
    code = (
        "import sys\n"
        "open('/proc/self/comm', 'w').write('a) (b c')\n"
        "print('named', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "named\n"
        with open(f"/proc/{proc.pid}/comm") as fh:
            assert fh.read().strip() == "a) (b c"
        alive, children = _process_table()
        assert proc.pid in alive
        assert proc.pid in children[os.getpid()]
    finally:
        proc.kill()
        proc.communicate()
