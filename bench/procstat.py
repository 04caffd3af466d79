"""Reads a server's CPU time and RSS from /proc, as the kernel accounts them.

CPU is summed over the process and its live descendants so a server that forks
workers is charged for all of them; threads are already included in /proc/<pid>/stat.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    user: float  # seconds
    system: float


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may contain spaces and parentheses: fields start after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """pid and every live process below it."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def cpu(pid: int) -> CpuSample:
    """User and system CPU seconds of pid's process tree (fields 14 and 15 of stat)."""
    user = system = 0
    for p in descendants(pid):
        fields = _stat_fields(p)
        if fields is not None:
            user += int(fields[11])
            system += int(fields[12])
    return CpuSample(user / _TICK, system / _TICK)


def rss_bytes(pid: int) -> int:
    """VmRSS of one process, in bytes."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def rss_bytes_self() -> int:
    return rss_bytes(os.getpid())


def pss_tree_bytes(pid: int) -> int:
    """Proportional set size summed over pid's process tree: memory shared between
    worker processes (one mmap'd arena) is counted once, not once per process."""
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup", encoding="ascii") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total
