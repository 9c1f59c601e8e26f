"""The retry schedule: exponential, jittered, floored by Retry-After, bounded twice."""

from __future__ import annotations

import email.utils
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_wan.api import RetryPolicy
from airflow_provider_wan.api.retry import is_retryable_status, parse_retry_after


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    policy = RetryPolicy(initial_delay=1, multiplier=2, max_delay=10, jitter=0, max_attempts=10)
    rng = random.Random(0)
    assert [policy.backoff(n, rng) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


@given(st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=2**32))
def test_jitter_stays_within_its_band(retry: int, seed: int) -> None:
    policy = RetryPolicy(initial_delay=0.5, multiplier=2, max_delay=30, jitter=0.5)
    ceiling = min(30, 0.5 * 2 ** (retry - 1))
    delay = policy.backoff(retry, random.Random(seed))
    assert ceiling * 0.5 <= delay <= ceiling


def test_jitter_spreads_clients_apart() -> None:
    policy = RetryPolicy(jitter=1.0)
    delays = {round(policy.backoff(3, random.Random(seed)), 6) for seed in range(20)}
    assert len(delays) == 20


def test_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, jitter=0)
    rng = random.Random(0)
    assert policy.next_delay(1, 0.0, rng=rng) == 1.0
    assert policy.next_delay(2, 1.0, rng=rng) == 2.0
    assert policy.next_delay(3, 3.0, rng=rng) is None


def test_gives_up_when_the_time_budget_would_be_passed() -> None:
    policy = RetryPolicy(max_attempts=100, max_elapsed=10, jitter=0, initial_delay=4)
    rng = random.Random(0)
    assert policy.next_delay(1, 5.0, rng=rng) == 4.0
    assert policy.next_delay(1, 6.5, rng=rng) is None


def test_retry_after_is_a_floor_not_a_ceiling() -> None:
    policy = RetryPolicy(jitter=0, initial_delay=1)
    rng = random.Random(0)
    assert policy.next_delay(1, 0.0, retry_after=7.0, rng=rng) == 7.0
    assert policy.next_delay(3, 0.0, retry_after=0.5, rng=rng) == 4.0


def test_retry_after_beyond_the_budget_gives_up() -> None:
    policy = RetryPolicy(max_elapsed=30)
    assert policy.next_delay(1, 0.0, retry_after=60.0, rng=random.Random(0)) is None


def test_parse_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") == 0.0
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30, abs=1)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retryable(status: int) -> None:
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [200, 400, 401, 402, 403, 404])
def test_definite_statuses_are_not(status: int) -> None:
    assert not is_retryable_status(status)


def test_policy_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=2)
