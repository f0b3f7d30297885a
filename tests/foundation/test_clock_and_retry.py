"""The clock seam and the one retryable-response rule."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow_integrator.domain.clock import ManualClock, SystemClock
from workflow_integrator.domain.retry import (
    RETRYABLE_STATUSES,
    backoff_delay,
    is_retryable_status,
    retry_after,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_system_clock_is_aware_utc() -> None:
    moment = SystemClock().now()
    assert moment.utcoffset() == timedelta(0)
    assert abs(moment - datetime.now(UTC)) < timedelta(seconds=5)


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(NOW)
    assert clock.now() == NOW == clock.now()
    clock.advance(90)
    clock.advance(timedelta(minutes=1))
    assert clock.now() == NOW + timedelta(seconds=150)
    clock.set(datetime(2027, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
    assert clock.now() == datetime(2027, 1, 1, tzinfo=UTC)
    assert clock.now().tzinfo == UTC
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


@pytest.mark.parametrize("status", [408, 425, 429, 500, 501, 502, 503, 504, 507, 599])
def test_retryable_statuses(status: int) -> None:
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [200, 201, 301, 400, 401, 403, 404, 409, 410, 422, 600])
def test_statuses_not_worth_retrying(status: int) -> None:
    assert not is_retryable_status(status)


@given(st.integers(min_value=100, max_value=599))
def test_rule_is_exactly_408_425_429_and_5xx(status: int) -> None:
    assert is_retryable_status(status) == (status in (408, 425, 429) or 500 <= status <= 599)
    assert (status in RETRYABLE_STATUSES) == is_retryable_status(status)


def test_retry_after_in_seconds_and_any_header_case() -> None:
    assert retry_after({"Retry-After": "120"}, NOW) == timedelta(seconds=120)
    assert retry_after({"retry-after": " 0 "}, NOW) == timedelta(0)


def test_retry_after_as_http_date() -> None:
    headers = {"Retry-After": "Wed, 02 Dec 2026 12:05:00 GMT"}
    assert retry_after(headers, NOW) == timedelta(minutes=5)


def test_retry_after_in_the_past_is_no_wait() -> None:
    assert retry_after({"Retry-After": "Wed, 02 Dec 2026 11:00:00 GMT"}, NOW) == timedelta(0)


@pytest.mark.parametrize("value", ["", "soon", "-5", "1.5", "Wed, 99 Foo 2026"])
def test_unreadable_retry_after_is_ignored(value: str) -> None:
    assert retry_after({"Retry-After": value}, NOW) is None


def test_absent_retry_after() -> None:
    assert retry_after({}, NOW) is None


@given(st.integers(min_value=1, max_value=5000), st.integers(min_value=0, max_value=2**32))
def test_backoff_is_full_jitter_under_the_capped_exponential(attempt: int, seed: int) -> None:
    delay = backoff_delay(attempt, random.Random(seed), first=1.0, cap=600.0)
    ceiling = min(600.0, 2.0 ** min(attempt - 1, 1023))
    assert timedelta(0) <= delay <= timedelta(seconds=ceiling)


def test_backoff_grows_then_stops_at_the_cap() -> None:
    rng = random.Random(7)
    means = [
        sum(backoff_delay(n, rng).total_seconds() for _ in range(400)) / 400 for n in (1, 4, 12, 30)
    ]
    assert means[0] < means[1] < means[2]
    assert 250 < means[3] < 350  # uniform(0, 600) averages 300


def test_backoff_counts_attempts_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        backoff_delay(0, random.Random(1))
