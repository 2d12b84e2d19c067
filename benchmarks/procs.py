"""CPU seconds of process trees, from /proc/<pid>/stat (utime + stime, and the reaped children's time).

A process that exits between two samples takes its ticks with it unless its parent reaped it (then they
show up in the parent's cutime/cstime, which is counted too). PostgreSQL backends are matched by the
database name in their title, so other clients of the same PostgreSQL are left out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Proc", "CpuMeter", "processes", "tree", "postgres_backends"]

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    ticks: int  # own utime + stime, plus reaped children's
    cmdline: str


def processes() -> list[Proc]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (ValueError, OSError):
            continue
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
        found.append(Proc(int(entry.name), int(fields[1]), int(fields[2]), ticks, cmdline))
    return found


def tree(root: int, procs: Iterable[Proc]) -> list[Proc]:
    """``root`` and every process below it."""
    procs = list(procs)
    children: dict[int, list[Proc]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p)
    out = [p for p in procs if p.pid == root]
    frontier = [root]
    while frontier:
        kids = [c for pid in frontier for c in children.get(pid, [])]
        out += kids
        frontier = [c.pid for c in kids]
    return out


def postgres_backends(database: str) -> Callable[[list[Proc]], list[Proc]]:
    def select(procs: list[Proc]) -> list[Proc]:
        return [p for p in procs if p.cmdline.startswith("postgres:") and f" {database} " in f"{p.cmdline} "]
    return select


class CpuMeter:
    """CPU seconds per named group of processes between ``start()`` and ``stop()``.

    A group is a function from the process table to the processes it holds. Ticks are kept per pid,
    so a process that starts during the interval counts from zero and one that exits keeps what it had
    at the last sample (``sample()`` may be called in between to narrow that gap).
    """

    def __init__(self, groups: dict[str, Callable[[list[Proc]], list[Proc]]]) -> None:
        self.groups = groups
        self._first: dict[str, dict[int, int]] = {}
        self._last: dict[str, dict[int, int]] = {}

    def _read(self) -> dict[str, dict[int, int]]:
        procs = processes()
        return {name: {p.pid: p.ticks for p in select(procs)} for name, select in self.groups.items()}

    def start(self) -> None:
        self._first = self._read()
        self._last = {k: dict(v) for k, v in self._first.items()}

    def sample(self) -> None:
        for name, ticks in self._read().items():
            self._last[name].update(ticks)

    def stop(self) -> dict[str, float]:
        self.sample()
        return {
            name: sum(t - self._first[name].get(pid, 0) for pid, t in last.items()) / _TICK
            for name, last in self._last.items()
        }
