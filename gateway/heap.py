"""The garbage collector's settings for a gateway process (`imagegate serve`, `worker`).

Why: a job allocates a few hundred short-lived containers (requests, job documents and
their dataclasses, coroutines, futures) and CPython's young generation is collected every
700 allocations, each collection also traversing whatever is alive at that moment (every
job in flight); one in ten goes on to the middle generation, and the oldest generation,
which holds every module, class, function and pydantic schema loaded at start-up (about
100,000 objects), was traversed every few seconds under load, at about 50 ms each. With
waiting clients on `redis://` (1x1 vendor path, 16 clients) collections took about 250 us
of CPU per job, near a tenth of the process's CPU.

So a process, once started (`tune`):

- freezes what it holds at start-up (`gc.freeze`): never garbage, and the oldest
  generation's collections no longer traverse it;
- collects the young generation every `YOUNG` allocations instead of 700: most of a job's
  objects have died by then, freed by their reference counts, so a collection finds less
  alive to traverse and to promote (measured: 10,000 left about 80 us of collections per
  job; 3,000 and 50,000 about 100).

Reference cycles are still collected, only less often; the price is at most a few MB of
cyclic garbage waiting a little longer.
"""

from __future__ import annotations

import gc

YOUNG = 10_000  # allocations between two collections of the young generation (CPython: 700)


def tune() -> None:
    """Freeze the start-up heap and widen the young generation (for the whole process)."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, oldest)
