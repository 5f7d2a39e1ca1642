"""Peak and mean RSS of each service's whole process tree, sampled through the run.

A service's memory is the sum of the resident set sizes of its process and all of its
descendants (``/bin/sh -c`` and the program it runs; PostgreSQL's postmaster and every
backend). Summing RSS counts pages shared between the processes (PostgreSQL's shared
buffers, copy-on-write pages after a fork) once per process, so the figure is an upper
bound of what the tree really holds; it is what ``ps`` and ``top`` show, and it is cheap
to read, which proportional set sizes (``smaps``) are not.

Cost: the process tree is found from one pass over ``/proc/<pid>/stat`` per sample
(psutil's own ``children(recursive=True)`` makes such a pass per service, and reads more),
then psutil reads ``statm`` for each process of the trees. With ~100 processes on the
machine and ~10 in the trees one sample takes about 1.5 ms. Without ``/proc`` (not Linux)
psutil's process iterator finds the parents instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psutil

_PROC = "/proc"
_Table = tuple[set[int], dict[int, list[int]]]  # live pids, parent -> children


@dataclass
class _Stats:
    peak: int = 0
    total: int = 0
    samples: int = 0
    processes: int = 0

    def add(self, rss: int, processes: int) -> None:
        self.peak = max(self.peak, rss)
        self.total += rss
        self.samples += 1
        self.processes = max(self.processes, processes)

    def as_dict(self) -> dict[str, int]:
        """Shaped as ``report.schema.MemoryStats``."""
        return {
            "peak_rss": self.peak,
            "mean_rss": self.total // self.samples,
            "samples": self.samples,
            "processes": self.processes,
        }


class MemorySampler:
    """Samples the RSS of each running service's process tree in a daemon thread.

    ``pids`` returns the services running now, name -> pid of the process tempstack
    spawned; it is called once per sample, from the sampler's thread, so it must be safe
    to call from there. A service appears in the results once it has been seen running.
    """

    def __init__(self, pids: Callable[[], dict[str, int]], interval: float = 0.25) -> None:
        self._pids = pids
        self._interval = interval
        self._stats: dict[str, _Stats] = {}
        self._procs: dict[int, psutil.Process] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._result: dict[str, dict[str, int]] | None = None
        #: the last error a sample met (the sampler never stops on one), for the logs
        self.last_error: BaseException | None = None

    def start(self) -> None:
        """Take a first sample now, then one every ``interval`` seconds until ``stop``."""
        if self._thread is not None or self._result is not None:
            raise RuntimeError("a MemorySampler starts once")
        self.sample()
        self._thread = threading.Thread(
            target=self._loop, name="tempstack-memory-sampler", daemon=True
        )
        self._thread.start()

    def stop(self) -> dict[str, dict[str, int]]:
        """Stop sampling, take a last sample and return name -> ``MemoryStats`` fields.

        Idempotent: later calls return the same figures without sampling again.
        """
        if self._result is None:
            self._stopping.set()
            if self._thread is not None:
                # A sample takes milliseconds; the bound only keeps a wedged ``pids``
                # callable from hanging the teardown.
                self._thread.join(timeout=5.0)
            self.sample()
            self._result = self.stats()
        return {name: dict(stats) for name, stats in self._result.items()}

    def stats(self) -> dict[str, dict[str, int]]:
        """The figures so far, without stopping."""
        with self._lock:
            return {name: s.as_dict() for name, s in self._stats.items() if s.samples}

    def sample(self) -> None:
        """One sample of every running service's tree; safe from any thread."""
        try:
            roots = dict(self._pids())
            if not roots:
                return
            with self._lock:
                self._sample(roots)
        except Exception as exc:  # a failed sample must never end the run or the sampler
            self.last_error = exc

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval):
            self.sample()

    def _sample(self, roots: dict[str, int]) -> None:
        table = _process_table()
        seen: set[int] = set()
        for name, root in roots.items():
            rss, count = 0, 0
            for pid in _tree(root, table):
                size = self._rss(pid)
                if size is not None:
                    rss, count = rss + size, count + 1
                    seen.add(pid)
            if count:
                self._stats.setdefault(name, _Stats()).add(rss, count)
        for pid in self._procs.keys() - seen:
            del self._procs[pid]

    def _rss(self, pid: int) -> int | None:
        """RSS in bytes, or None when the process has gone (or cannot be read)."""
        proc = self._procs.get(pid)
        try:
            if proc is None:
                proc = self._procs[pid] = psutil.Process(pid)
            return int(proc.memory_info().rss)
        except psutil.Error:
            self._procs.pop(pid, None)
            return None


def _tree(root: int, table: _Table) -> list[int]:
    """The root and all its descendants; nothing when the root is no longer alive."""
    alive, children = table
    if root not in alive:
        return []
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def _process_table() -> _Table:
    """Every live (non-zombie) process, and parent pid -> child pids."""
    alive: set[int] = set()
    children: dict[int, list[int]] = {}
    if os.path.isdir(f"{_PROC}/self"):
        pairs = _parents_from_proc()
    else:
        pairs = (
            (p.pid, p.info["ppid"])
            for p in psutil.process_iter(["ppid", "status"])
            if p.info["status"] != psutil.STATUS_ZOMBIE and p.info["ppid"] is not None
        )
    for pid, ppid in pairs:
        alive.add(pid)
        children.setdefault(ppid, []).append(pid)
    return alive, children


def _parents_from_proc() -> Iterator[tuple[int, int]]:
    for entry in os.listdir(_PROC):
        if not entry.isdigit():
            continue
        try:
            with open(f"{_PROC}/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:  # gone between listing and reading
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after
        # the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split(b" ", 2)
        if len(fields) >= 2 and fields[0] != b"Z":
            yield int(entry), int(fields[1])
