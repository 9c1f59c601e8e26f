"""Run one storage operation again while it fails in a way that may pass."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from airflow_provider_wan.api.retry import RetryPolicy
from airflow_provider_wan.storage.errors import StorageError

T = TypeVar("T")

DEFAULT_STORAGE_RETRY = RetryPolicy(
    max_attempts=4, initial_delay=0.5, multiplier=2.0, max_delay=8.0, max_elapsed=120.0
)
"""Four attempts, waiting about 0.5, 1 and 2 seconds between them."""

log = logging.getLogger(__name__)


def call_with_retry(
    operation: Callable[[], T],
    *,
    policy: RetryPolicy = DEFAULT_STORAGE_RETRY,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> tuple[T, int]:
    """Call *operation* until it succeeds, raises a non-retryable error, or the policy gives up.

    Only :class:`StorageError` with ``retryable`` set is retried; anything else propagates at
    once. The last error propagates when the attempts run out.

    :param what: a short, already-redacted description for the log ("download of ...").
    :returns: the result and the number of attempts it took.
    """
    rng = rng or random.Random()
    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        try:
            return operation(), attempts
        except StorageError as exc:
            if not exc.retryable:
                raise
            delay = policy.next_delay(attempts, time.monotonic() - started, rng=rng)
            if delay is None:
                raise
            log.warning(
                "%s failed (attempt %d of %d, retrying in %.1fs): %s",
                what,
                attempts,
                policy.max_attempts,
                delay,
                exc,
            )
            sleep(delay)
