"""Resident memory of a server process, read from /proc (no extra dependency).

`VmRSS` is the resident set now; `VmHWM` is the kernel's own high-water mark of it since
the process started, so a peak under load cannot be missed between two samples.
"""

from __future__ import annotations

from pathlib import Path


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def rss_mib(pid: int) -> float:
    """Resident set size now, in MiB."""
    return _status_kib(pid, "VmRSS") / 1024


def peak_rss_mib(pid: int) -> float:
    """The highest resident set size the process has had, in MiB."""
    return _status_kib(pid, "VmHWM") / 1024
