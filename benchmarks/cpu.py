"""CPU time of a process and its descendants, read from /proc (no extra dependency).

`utime + stime` of every thread group in the tree (a `serve --workers N` parent and its
children; Pillow and hashing threads are inside their process's figure). A process that
ended between two readings drops out of the second one: read around a measurement of
processes that stay up.
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # the thread ended meanwhile
            continue
    return found


def _own_seconds(pid: int) -> float:
    # Fields after the command name (which may hold spaces), from `man 5 proc`: utime is
    # the 14th field and stime the 15th.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def tree_seconds(pid: int) -> float:
    """CPU seconds used so far by `pid` and every living descendant."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += _own_seconds(current)
            pending += _children(current)
        except OSError:  # ended meanwhile
            continue
    return total
