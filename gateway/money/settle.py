"""Settling an ended job's money: its reservations against what its attempts were charged.

What was reserved and not charged goes back, newest reservation first; what the vendor's
usage billed above the reservations is added to the newest one's counter (it was spent).
Afterwards the tenant's counters hold exactly what the job was charged. The stores apply
this in the same atomic step that ends the job (memory: `MemoryState`; Redis: `settle` in
gateway/state/redis_scripts.py, the same arithmetic in Lua), once per job (`Job.settled`).
"""

from __future__ import annotations

from gateway.jobs import Job
from gateway.money.format import to_micros


def settlement(job: Job) -> list[tuple[str, int]]:
    """(budget counter key, micro-dollars to add: negative gives back) for an ended job."""
    if not job.reserved:
        return []
    charged = sum(to_micros(attempt.cost) for attempt in job.attempts)
    held = sum(to_micros(hold.amount) for hold in job.reserved)
    if charged >= held:
        return [(job.reserved[-1].key, charged - held)] if charged > held else []
    moves, remaining = [], held - charged
    for hold in reversed(job.reserved):
        take = min(remaining, to_micros(hold.amount))
        if take > 0:
            moves.append((hold.key, -take))
            remaining -= take
    return moves
