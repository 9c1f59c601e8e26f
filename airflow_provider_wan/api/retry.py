"""When to try a request again, and how long to wait first."""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass

# 408 request timeout, 429 queue capacity exceeded, and every 5xx: worth another attempt.
RETRYABLE_STATUS = frozenset({408, 429})


def is_retryable_status(status: int) -> bool:
    """Whether an HTTP status means "try again later" on this API."""
    return status in RETRYABLE_STATUS or 500 <= status <= 599


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts and by total time.

    The n-th retry waits ``initial_delay * multiplier ** (n - 1)``, capped at ``max_delay``,
    then drawn uniformly from ``[(1 - jitter) * d, d]``. A ``Retry-After`` from the server is a
    floor: the wait is never shorter. No retry starts once ``max_elapsed`` seconds would pass.

    :param max_attempts: attempts in all, the first one included (1 means no retry).
    :param initial_delay: seconds before the first retry.
    :param multiplier: growth of the delay from one retry to the next.
    :param max_delay: the longest backoff between two attempts.
    :param max_elapsed: the time budget of all attempts and waits together, in seconds.
    :param jitter: the fraction of the delay that is random (0 for none, 1 for "full jitter").
    """

    max_attempts: int = 6
    initial_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 30.0
    max_elapsed: float = 300.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.initial_delay < 0 or self.max_delay < 0 or self.max_elapsed < 0:
            raise ValueError("delays and max_elapsed must not be negative")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be at least 1, not {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, not {self.jitter}")

    def backoff(self, retry: int, rng: random.Random) -> float:
        """The jittered wait before retry number *retry* (1 for the first retry)."""
        ceiling = min(self.max_delay, self.initial_delay * self.multiplier ** (retry - 1))
        return ceiling * (1 - self.jitter * rng.random())

    def next_delay(
        self,
        attempts: int,
        elapsed: float,
        *,
        retry_after: float | None = None,
        rng: random.Random,
    ) -> float | None:
        """How long to wait before another attempt, or ``None`` to give up.

        :param attempts: attempts made so far.
        :param elapsed: seconds since the first attempt started.
        :param retry_after: the server's ``Retry-After``, in seconds, when it sent one.
        """
        if attempts >= self.max_attempts:
            return None
        delay = self.backoff(attempts, rng)
        if retry_after is not None:
            delay = max(delay, retry_after)
        if elapsed + delay > self.max_elapsed:
            return None
        return delay


NO_RETRY = RetryPolicy(max_attempts=1)
"""A policy that makes exactly one attempt."""
