"""Chunks keep every request once, in order; the budget never lets the committed cost pass the
limit whatever order the chunks start and finish in (while prices match the estimate)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_wan.campaigns.budget import (
    ChunkState,
    ChunkStatus,
    admit,
    observed_price,
    planned_chunks,
)
from airflow_provider_wan.campaigns.chunking import chunked

PRICE = 0.03


@given(st.lists(st.integers(), max_size=200), st.integers(1, 50))
def test_chunks_keep_every_request_once_in_order(values: list[int], size: int) -> None:
    chunks = chunked(values, size)
    assert [value for chunk in chunks for value in chunk] == values
    assert len(chunks) == -(-len(values) // size)
    assert all(len(chunk) == size for chunk in chunks[:-1])
    assert all(0 < len(chunk) <= size for chunk in chunks)


@given(st.lists(st.integers(1, 40), max_size=30), st.floats(0.01, 20))
def test_the_plan_takes_chunks_in_order_while_they_fit(images: list[int], limit: float) -> None:
    admitted = planned_chunks(images, PRICE, limit)
    assert sum(images[:admitted]) * PRICE <= limit + 1e-9
    if admitted < len(images):
        assert sum(images[: admitted + 1]) * PRICE > limit
    assert planned_chunks(images, PRICE, None) == len(images)


@settings(max_examples=300)
@given(
    st.lists(st.integers(1, 8), min_size=1, max_size=12),
    st.floats(0.02, 3.0),
    st.integers(1, 4),
    st.randoms(use_true_random=False),
    st.floats(0.3, 1.0),
)
def test_the_committed_cost_never_passes_the_budget(
    images: list[int], limit: float, concurrency: int, rnd: random.Random, discount: float
) -> None:
    """Chunks start in any order (at most *concurrency* in flight) and cost at most their
    estimate; at every moment the run's committed cost stays within the limit."""
    status = {index: ChunkStatus.NOT_STARTED for index in range(len(images))}
    actual: dict[int, float] = {}
    refused_first: int | None = None
    while True:
        waiting = [i for i, s in status.items() if s is ChunkStatus.NOT_STARTED]
        flying = [i for i, s in status.items() if s is ChunkStatus.IN_FLIGHT]
        if not waiting and not flying:
            break
        if waiting and (len(flying) < concurrency) and (not flying or rnd.random() < 0.6):
            index = rnd.choice(waiting)
            status[index] = ChunkStatus.IN_FLIGHT
            chunks = [ChunkState(i, images[i], status[i], actual.get(i), images[i]) for i in status]
            decision = admit(index, chunks, PRICE, limit)
            if not decision.admitted:
                status[index] = ChunkStatus.REFUSED
                if refused_first is None or index < refused_first:
                    refused_first = index
                assert "budget reached" in decision.message
            else:
                assert refused_first is None or index < refused_first  # no chunk after a refusal
        else:
            index = rnd.choice(flying)
            status[index] = ChunkStatus.FINISHED
            actual[index] = images[index] * PRICE * discount
        committed = sum(
            actual[i] if s is ChunkStatus.FINISHED else images[i] * PRICE
            for i, s in status.items()
            if s in (ChunkStatus.FINISHED, ChunkStatus.IN_FLIGHT)
        )
        assert committed <= limit + 1e-9


def test_a_price_above_the_estimate_raises_every_later_estimate() -> None:
    finished = ChunkState(0, 2, ChunkStatus.FINISHED, actual_cost=0.10, actual_images=2)
    assert observed_price([finished], PRICE) == 0.05
    decision = admit(1, [finished, ChunkState(1, 1, ChunkStatus.IN_FLIGHT)], PRICE, 0.14)
    assert not decision.admitted and decision.price == 0.05
    assert decision.message.startswith("budget reached: committed 0.10 USD + this chunk's 0.05 USD")


def test_earlier_chunks_that_have_not_started_are_reserved() -> None:
    chunks = [ChunkState(0, 3, ChunkStatus.NOT_STARTED), ChunkState(1, 3, ChunkStatus.IN_FLIGHT)]
    assert not admit(1, chunks, PRICE, 0.15).admitted  # chunk 0 comes first: 0.09 + 0.09 > 0.15
    chunks = [ChunkState(0, 3, ChunkStatus.IN_FLIGHT), ChunkState(1, 3, ChunkStatus.NOT_STARTED)]
    assert admit(0, chunks, PRICE, 0.15).admitted  # a later chunk waits its turn
