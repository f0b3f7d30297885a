"""The pure delivery rules: update-time parsing, breaker policy, held time, breaker signals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow_integrator.domain.delivery import (
    AttemptRecord,
    Breaker,
    BreakerPolicy,
    BreakerState,
    Outcome,
    breaker_signal,
    event_order_time,
    give_up_after_hold,
    parse_update_time,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
POLICY = BreakerPolicy()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:15:30.123+02:00", datetime(2024, 5, 1, 8, 15, 30, 123000, tzinfo=UTC)),
        ("2024-05-01T10:15:30.123Z", datetime(2024, 5, 1, 10, 15, 30, 123000, tzinfo=UTC)),
        ("2024-05-01T10:15:30-0530", datetime(2024, 5, 1, 15, 45, 30, tzinfo=UTC)),
        ("2024-05-01 10:15", datetime(2024, 5, 1, 10, 15, tzinfo=UTC)),
        ("2024-05-01T10:15:30.123456789+00:00",
         datetime(2024, 5, 1, 10, 15, 30, 123456, tzinfo=UTC)),
        # Epoch numbers (the shipped simulator's updateDate): milliseconds, else seconds.
        ("1714558530123", datetime(2024, 5, 1, 10, 15, 30, 123000, tzinfo=UTC)),
        (" 1714558530 ", datetime(2024, 5, 1, 10, 15, 30, tzinfo=UTC)),
        ("100000000001", datetime(1973, 3, 3, 9, 46, 40, 1000, tzinfo=UTC)),
        ("99999999999", datetime(5138, 11, 16, 9, 46, 39, tzinfo=UTC)),
    ],
)
def test_securechange_update_times_are_parsed_to_utc(text: str, expected: datetime) -> None:
    assert parse_update_time(text) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2024-13-01T10:00:00Z", "2024-05-01T25:00:00Z",
             "2024-05-01T10:00:00+24:00", "-1714558530", "1714558530.5", "17145585301234567"],
)
def test_what_is_not_an_update_time_is_none_and_arrival_orders_it(text: str) -> None:
    assert parse_update_time(text) is None
    assert event_order_time(text, T0) == T0


def test_times_are_compared_as_times_not_as_text() -> None:
    # As text, "10:05+02:00" sorts after "09:01Z"; as times it is earlier.
    earlier = event_order_time("2024-05-01T10:05:00+02:00", T0)
    later = event_order_time("2024-05-01T09:01:00Z", T0)
    assert earlier < later


def test_epoch_milliseconds_are_compared_as_times_not_as_text() -> None:
    # As text, "999…" sorts after "1000…"; as milliseconds it is a moment earlier.
    assert event_order_time("999999999999", T0) < event_order_time("1000000000000", T0)


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.just(UTC)))
def test_any_epoch_millisecond_written_by_the_simulator_parses_back(moment: datetime) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    millis = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert parse_update_time(str(millis)) == moment


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.just(UTC)),
       st.integers(min_value=-23 * 60, max_value=23 * 60))
def test_any_offset_written_by_securechange_parses_back(moment: datetime, minutes: int) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    local = moment.astimezone(timezone(timedelta(minutes=minutes)))
    text = local.isoformat(timespec="milliseconds")
    assert parse_update_time(text) == moment
    assert parse_update_time(text.replace("+00:00", "Z")) == moment


def test_the_breaker_opens_after_the_threshold_and_half_opens_after_the_cooldown() -> None:
    breaker = Breaker()
    for _ in range(POLICY.failure_threshold - 1):
        breaker = breaker.after("failure", T0, POLICY)
        assert breaker.state(T0) is BreakerState.CLOSED
        assert breaker.allowance(T0, 8) == 8
    breaker = breaker.after("failure", T0, POLICY)
    assert breaker.state(T0) is BreakerState.OPEN and breaker.allowance(T0, 8) == 0
    assert breaker.open_until == T0 + POLICY.first_cooldown

    half = T0 + POLICY.first_cooldown
    assert breaker.state(half) is BreakerState.HALF_OPEN and breaker.allowance(half, 8) == 1
    reopened = breaker.after("failure", half, POLICY)
    assert reopened.open_until == half + 2 * POLICY.first_cooldown
    assert reopened.after("success", half, POLICY) == Breaker()


def test_a_late_failure_while_open_does_not_extend_the_cooldown() -> None:
    opened = Breaker(failures=5, open_until=T0 + timedelta(seconds=30), openings=1)
    after = opened.after("failure", T0 + timedelta(seconds=1), POLICY)
    assert after.open_until == opened.open_until and after.failures == 6


def test_a_success_between_failures_resets_the_count() -> None:
    breaker = Breaker()
    for _ in range(4):
        breaker = breaker.after("failure", T0, POLICY)
    breaker = breaker.after("success", T0, POLICY).after("failure", T0, POLICY)
    assert breaker.state(T0) is BreakerState.CLOSED and breaker.failures == 1
    assert breaker.after("none", T0, POLICY) is breaker


@given(st.lists(st.sampled_from(["success", "failure", "none"]), max_size=60),
       st.integers(min_value=1, max_value=256))
def test_the_breaker_never_allows_more_than_the_limit_nor_cools_down_past_the_cap(
    signals: list[str], limit: int,
) -> None:
    breaker = Breaker()
    now = T0
    for signal in signals:
        breaker = breaker.after(signal, now, POLICY)  # type: ignore[arg-type]
        assert 0 <= breaker.allowance(now, limit) <= limit
        if breaker.open_until is not None:
            assert breaker.open_until - now <= POLICY.max_cooldown
        now += timedelta(seconds=7)


def test_cooldowns_double_and_stop_at_the_cap() -> None:
    assert [POLICY.cooldown(n).total_seconds() for n in range(1, 7)] == [
        30, 60, 120, 240, 480, 600]
    assert POLICY.cooldown(10_000) == POLICY.max_cooldown


def test_time_held_moves_the_give_up_time() -> None:
    give_up = T0 + timedelta(hours=24)
    held = T0 + timedelta(hours=1)
    assert give_up_after_hold(give_up, held, held + timedelta(hours=3)) == give_up + timedelta(
        hours=3)
    assert give_up_after_hold(give_up, None, T0) == give_up
    assert give_up_after_hold(None, held, T0) is None
    assert give_up_after_hold(give_up, held, held - timedelta(1)) == give_up


def _outcome(kind: str, status: int | None, *, error: str | None = None,
             stage: str | None = None) -> Outcome:
    record = AttemptRecord(T0, 5, "POST", "https://x", response_status=status,
                           error_class=error, stage=stage)
    return Outcome(kind, "why", record, status=status)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcome", "signal"),
    [
        (_outcome("delivered", 201), "success"),
        (_outcome("retry", 503), "failure"),
        (_outcome("retry", None, error="ConnectError", stage="connect"), "failure"),
        (_outcome("dead", 400), "success"),  # the server answered
        (_outcome("dead", 502), "failure"),  # gave up on a failing server
        (_outcome("dead", None, error="ConnectTimeout", stage="connect"), "failure"),
        (_outcome("dead", None, error="RenderError", stage="render"), "none"),
        # Never sent: SecureChange could not be read, the point is gone, WI failed inside.
        (_outcome("retry", None, stage="ticket"), "none"),
        (_outcome("dead", None, stage="config"), "none"),
        (_outcome("retry", None, stage="internal"), "none"),
        (_outcome("held", 401), "none"),
    ],
)
def test_what_an_outcome_tells_the_breaker(outcome: Outcome, signal: str) -> None:
    assert breaker_signal(outcome) == signal
