"""Requests into chunks: one chunk is one mapped task instance, one submission, one trigger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def chunked(values: Sequence[T], size: int) -> list[list[T]]:
    """*values* in order, in lists of *size* (the last one may be shorter).

    :raises ValueError: for a size below 1.
    """
    if size < 1:
        raise ValueError(f"the chunk size must be at least 1, not {size}")
    return [list(values[start : start + size]) for start in range(0, len(values), size)]
