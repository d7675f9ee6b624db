"""The admission pre-check is skipped only while a fresh reading shows ample headroom."""

from __future__ import annotations

import time

from gateway.admission import HEADROOM_FRESH, Headroom
from gateway.state.base import Reservation


def reservation(amount: int, limit: int) -> Reservation:
    return Reservation("ig:budget:{t}:86400:1", amount, limit, 172800)


def test_fresh_reading_far_from_the_cap_is_ample() -> None:
    assert Headroom(time.monotonic(), active=1, spent=0).ample(cap=10, reservation=None)


def test_admissions_since_the_reading_count() -> None:
    assert Headroom(time.monotonic(), active=1, spent=0, since=3).ample(10, None)  # 5 of 10
    assert not Headroom(time.monotonic(), active=1, spent=0, since=4).ample(10, None)  # 6


def test_budget_past_half_is_not_ample() -> None:
    headroom = Headroom(time.monotonic(), active=0, spent=40)
    assert headroom.ample(cap=None, reservation=reservation(10, 100))
    assert not headroom.ample(cap=None, reservation=reservation(20, 100))


def test_stale_reading_is_never_trusted() -> None:
    headroom = Headroom(time.monotonic() - HEADROOM_FRESH - 0.1, active=0, spent=0)
    assert not headroom.ample(cap=1000, reservation=None)
