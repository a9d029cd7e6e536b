"""CPU seconds and RSS of a set of processes and all their descendants (psutil)."""
from __future__ import annotations

from dataclasses import dataclass

import psutil

MB = 1024 * 1024


@dataclass(frozen=True)
class Snapshot:
    cpu_seconds: float  # user + system, summed over the processes alive now
    rss: dict[int, int]  # pid -> bytes

    @property
    def rss_max_mb(self) -> float:
        return max(self.rss.values(), default=0) / MB

    @property
    def rss_total_mb(self) -> float:
        return sum(self.rss.values()) / MB


class Sampler:
    """The server's processes: the ones the bench started and their children (workers, spawned helpers)."""

    def __init__(self, pids: list[int]):
        self.roots = [psutil.Process(pid) for pid in pids]

    def processes(self) -> list[psutil.Process]:
        found: dict[int, psutil.Process] = {}
        for root in self.roots:
            try:
                found[root.pid] = root
                found.update((child.pid, child) for child in root.children(recursive=True))
            except psutil.NoSuchProcess:
                continue
        return list(found.values())

    def snapshot(self) -> Snapshot:
        cpu, rss = 0.0, {}
        for proc in self.processes():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu += times.user + times.system
                    rss[proc.pid] = proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return Snapshot(cpu, rss)

    def workers(self) -> list[int]:
        """Pids of the processes that import the app: the leaves, or the roots when there are none."""
        procs = self.processes()
        parents = {p.pid for p in procs for c in procs if _ppid(c) == p.pid}
        leaves = [p.pid for p in procs if p.pid not in parents and _serves(p)]
        return leaves or [r.pid for r in self.roots]


def _ppid(proc: psutil.Process) -> int:
    try:
        return proc.ppid()
    except psutil.NoSuchProcess:
        return -1


def _serves(proc: psutil.Process) -> bool:
    """Excludes helpers such as multiprocessing's resource tracker, which serves no request."""
    try:
        cmdline = " ".join(proc.cmdline())
    except psutil.NoSuchProcess:
        return False
    return "resource_tracker" not in cmdline
