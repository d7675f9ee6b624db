"""System tools the harness needs, installed from Debian's packages when missing.

The same move as the README's test command makes for `redis-server`: a fresh machine
gets what it lacks, a machine that has it pays nothing.
"""

from __future__ import annotations

import shutil
import subprocess

PACKAGES = {"wrk": "wrk", "redis-server": "redis-server"}


def ensure(binary: str) -> str:
    """The path of `binary`, running `apt-get install` for its package first if needed."""
    found = shutil.which(binary)
    if found:
        return found
    package = PACKAGES[binary]
    print(f"benchmarks: {binary} is missing; installing Debian package {package!r}", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "check": True}
    subprocess.run(["apt-get", "update"], **quiet)  # type: ignore[call-overload]
    subprocess.run(["apt-get", "install", "-y", package], **quiet)  # type: ignore[call-overload]
    found = shutil.which(binary)
    if found is None:
        raise RuntimeError(f"{binary} is still missing after installing {package}")
    return found
