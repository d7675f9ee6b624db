"""The delivery policy as pure functions: what each answer leads to, the schedule, jitter."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.jobs import WebhookState
from gateway.webhooks.schedule import Outcome, after_attempt, jittered, redelivery, refused

SCHEDULE = (0.0, 5.0, 300.0)


def attempt(webhook: WebhookState, status: int | None, error: str | None = None) -> Outcome:
    return after_attempt(
        webhook, status=status, error=error, schedule=SCHEDULE, jitter=0.0, rand=lambda: 0.5
    )


@pytest.mark.parametrize("status", [200, 202, 204, 299])
def test_any_2xx_is_delivered(status: int) -> None:
    outcome = attempt(WebhookState("u", attempts=1), status)
    assert outcome.state.status == "delivered" and outcome.retry_in is None
    assert outcome.metric == "delivered" and outcome.state.last_status == status


def test_410_stops_at_once() -> None:
    outcome = attempt(WebhookState("u", attempts=1), 410, "the receiver answered 410")
    assert (outcome.state.status, outcome.retry_in, outcome.metric) == ("failed", None, "gone")


@pytest.mark.parametrize("status", [None, 301, 400, 404, 429, 500, 503])
def test_everything_else_follows_the_schedule_then_gives_up(status: int | None) -> None:
    delays = []
    webhook = WebhookState("u")
    for made in range(1, len(SCHEDULE) + 1):
        webhook = replace(webhook, attempts=made)
        outcome = attempt(webhook, status, "failed")
        delays.append(outcome.retry_in)
        webhook = outcome.state
    assert delays == [5.0, 300.0, None]
    assert webhook.status == "failed" and outcome.metric == "given_up"


def test_jitter_spreads_within_its_fraction() -> None:
    assert jittered(100.0, 0.1, lambda: 0.0) == pytest.approx(90.0)
    assert jittered(100.0, 0.1, lambda: 1.0) == pytest.approx(110.0)
    assert jittered(0.0, 0.5, lambda: 1.0) == 0.0


def test_a_redelivery_starts_a_new_round_and_a_refusal_is_final() -> None:
    spent = WebhookState("u", status="failed", attempts=3, last_error="the receiver answered 500")
    fresh = redelivery(spent)
    assert (fresh.status, fresh.attempts, fresh.since) == ("pending", 3, 3)
    outcome = attempt(replace(fresh, attempts=4), 500, "x")
    assert outcome.retry_in == 5.0  # the schedule's second step, not its end
    blocked = refused(fresh, "webhookUrl refused: internal")
    assert (blocked.state.status, blocked.retry_in, blocked.metric) == ("failed", None, "blocked")
