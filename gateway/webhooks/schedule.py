"""What one delivery attempt leads to: delivered, retried later, or given up (pure, so the
policy is tested without a clock).

`[webhooks] retry_schedule` lists the delay before each attempt of a round, the first
being the ending itself ("0s"); after the last one fails the event is given up. A 2xx
answer is delivered; 410 Gone stops at once (the receiver asked for no more); anything else
(another status, no answer, a timeout) is retried.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from gateway.jobs import WebhookState

DELIVERED, PENDING, FAILED = "delivered", "pending", "failed"


@dataclass(frozen=True)
class Outcome:
    """The webhook's new state, when to try again (seconds, None: never) and the metric
    outcome of the attempt."""

    state: WebhookState
    retry_in: float | None
    metric: str


def jittered(delay: float, jitter: float, rand: Callable[[], float] = random.random) -> float:
    """`delay` spread by +-`jitter` (a fraction), so receivers that failed together are not
    all retried at the same instant."""
    return max(0.0, delay * (1 + jitter * (2 * rand() - 1)))


def after_attempt(
    webhook: WebhookState,
    *,
    status: int | None,
    error: str | None,
    schedule: Sequence[float],
    jitter: float,
    rand: Callable[[], float] = random.random,
) -> Outcome:
    """The outcome of the attempt just made (`webhook.attempts` counts it already): the
    receiver's HTTP `status`, or `error` when there was no usable answer."""
    seen = replace(webhook, last_status=status, last_error=error)
    if status is not None and 200 <= status < 300:
        return Outcome(replace(seen, status=DELIVERED, last_error=None), None, "delivered")
    if status == 410:
        gone = replace(seen, status=FAILED, last_error="the receiver answered 410 Gone")
        return Outcome(gone, None, "gone")
    made = webhook.attempts - webhook.since
    if made >= len(schedule):
        return Outcome(replace(seen, status=FAILED), None, "given_up")
    return Outcome(replace(seen, status=PENDING), jittered(schedule[made], jitter, rand), "retry")


def refused(webhook: WebhookState, reason: str) -> Outcome:
    """The guard refused the URL at delivery: never connected to, not retried."""
    state = replace(webhook, status=FAILED, last_status=None, last_error=reason)
    return Outcome(state, None, "blocked")


def redelivery(webhook: WebhookState) -> WebhookState:
    """A new round on request: the schedule starts over from this attempt count."""
    return replace(webhook, status=PENDING, since=webhook.attempts, last_error=None)
