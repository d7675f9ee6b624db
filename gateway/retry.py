"""The retry policy: tenacity objects composed so that cost is a stop condition.

    stop  = stop_after_attempt(max_attempts) | stop_after_cost(ledger, next_estimate)
    wait  = wait_retry_after(wait_exponential_jitter(initial, max))
    retry = retry_if_exception(is_retryable)
    before_sleep = defer_long_retry_after(backend)   # the vendor's window is full: queue it

Uploads have their own small policy (`upload_retrying`): the image is already paid for,
so a storage hiccup is retried a few times, quickly, without asking the vendor again.

`sleep` is injectable so tests never wait for real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from backends.base import BackendError
from gateway.deferral import Deferred
from gateway.settings import RetrySettings
from gateway.storage import StorageUnavailable

MAX_RETRY_AFTER = 120.0  # a vendor asking for longer than this is treated as down
# A vendor's Retry-After at least this long sends the job back to the queue for the wait
# instead of a worker sleeping through it; shorter waits are slept.
DEFER_RETRY_AFTER = 1.0


class CostLedger:
    """What one job has spent, against its `max_cost_per_job` (None: no cap)."""

    def __init__(
        self, limit: Decimal | None, spent: Decimal = Decimal("0"), attempts: int = 0
    ) -> None:
        self.limit = limit
        self.spent = spent  # a redelivered job starts from what its recorded attempts cost
        self.attempts = attempts

    def can_afford(self, estimate: Decimal) -> bool:
        return self.limit is None or self.spent + estimate <= self.limit

    def charge(self, amount: Decimal) -> None:
        """Record one attempt and what it cost (zero when the vendor did not bill it)."""
        self.spent += amount
        self.attempts += 1


class stop_after_cost(stop_base):
    """Stop when the next attempt's estimated cost would push the spend past the cap."""

    def __init__(self, ledger: CostLedger, next_estimate: Callable[[], Decimal]) -> None:
        self.ledger = ledger
        self.next_estimate = next_estimate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return not self.ledger.can_afford(self.next_estimate())


class wait_retry_after(wait_base):
    """The vendor's `Retry-After` when it gave one (and it is longer), else the fallback."""

    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = self.fallback(retry_state)
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, BackendError) and error.retry_after is not None:
            return max(backoff, min(error.retry_after, MAX_RETRY_AFTER))
        return backoff


def defer_long_retry_after(backend: str) -> Callable[[RetryCallState], None]:
    """Before a retry's sleep: when the vendor set the wait (`Retry-After`) and it is long,
    raise `Deferred` so the job waits in the queue, not in a worker."""

    def check(retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        wait = retry_state.upcoming_sleep
        if isinstance(error, BackendError) and error.retry_after and wait >= DEFER_RETRY_AFTER:
            raise Deferred(backend, "rate", wait)

    return check


def is_retryable(error: BaseException) -> bool:
    return isinstance(error, BackendError) and error.retryable


def retrying(
    settings: RetrySettings,
    ledger: CostLedger,
    next_estimate: Callable[[], Decimal],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    tried: int = 0,
    backend: str | None = None,
) -> AsyncRetrying:
    """`tried`: attempts already made at this target (a deferred job resuming), which
    count against `max_attempts` (one attempt is always allowed). With `backend`, a long
    `Retry-After` defers the job (`defer_long_retry_after`)."""
    attempts = max(1, settings.max_attempts - tried)
    return AsyncRetrying(
        stop=stop_after_attempt(attempts) | stop_after_cost(ledger, next_estimate),
        wait=wait_retry_after(
            wait_exponential_jitter(
                multiplier=settings.initial, jitter=settings.initial, max=settings.max
            )
        ),
        retry=retry_if_exception(is_retryable),
        before_sleep=defer_long_retry_after(backend) if backend is not None else None,
        sleep=sleep,
        reraise=True,
    )


def upload_retrying(
    attempts: int, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> AsyncRetrying:
    """`attempts` tries of one upload, 0.2 s doubling up to 2 s apart (with jitter)."""
    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=0.2, max=2.0, jitter=0.1),
        retry=retry_if_exception_type(StorageUnavailable),
        sleep=sleep,
        reraise=True,
    )
