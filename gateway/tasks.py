"""Stopping background tasks for certain.

redis-py (8.x) can swallow a cancel that lands while a command is in flight: the command
returns normally and the cancelled task runs on. One `task.cancel()` may then leave a
loop running for ever (seen: an app's shutdown hung on its webhook dispatcher), so a task
being stopped is cancelled again until it has ended.
"""

from __future__ import annotations

import asyncio
from typing import Any

# Long enough for a cancelled task's own clean-up (a worker hands its job back, one
# script call), short enough that a swallowed cancel barely delays a shutdown.
RECANCEL_EVERY = 0.1


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel the tasks and wait until every one has ended. What they raised is dropped:
    they are being stopped, and their own loops log their failures."""
    pending = {task for task in tasks if task is not None and not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_EVERY)
    for stopped in tasks:
        if stopped is not None and not stopped.cancelled():
            stopped.exception()  # retrieved, so asyncio does not report it as never retrieved
