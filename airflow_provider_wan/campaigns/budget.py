"""The per-run budget: which chunks may be submitted, decided twice.

1. **When planning**, before anything is sent: chunks are taken in order while the estimated
   cost of everything planned so far (images x ``cost_per_image_usd``) stays within the limit;
   the rest are not mapped at all.
2. **When a chunk is about to submit** (:func:`admit`): it adds up what the run has committed,
   counting finished chunks at their *actual* cost, chunks in flight at their estimate, and
   earlier chunks that have not started yet at their estimate too (they come first). If the
   committed cost plus its own estimate would pass the limit, the chunk is not submitted, and
   neither is any chunk after one that was refused. Estimates use the configured price or the
   highest price per image seen so far in this run, whichever is higher, so a price above the
   estimate stops the run sooner rather than later.

Every chunk with a higher index counts the lower ones (started or not), so whatever the order
in which Airflow starts them, the committed total never passes the limit unless chunks already
in flight cost more than their estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


class ChunkStatus(str, Enum):
    """Where a chunk stands when another chunk asks the budget."""

    NOT_STARTED = "not_started"
    IN_FLIGHT = "in_flight"
    FINISHED = "finished"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True)
class ChunkState:
    """What the budget needs to know about one chunk.

    :param images: images the chunk asks for.
    :param actual_cost: what a finished chunk cost (USD), when Runware reported it.
    :param actual_images: images a finished chunk made.
    """

    index: int
    images: int
    status: ChunkStatus
    actual_cost: float | None = None
    actual_images: int = 0


@dataclass(frozen=True)
class Decision:
    """Whether a chunk may be submitted, and why, in a sentence for the log."""

    admitted: bool
    committed: float
    estimate: float
    price: float
    message: str


def planned_chunks(images: Sequence[int], price: float, limit: float | None) -> int:
    """How many chunks, taken in order, fit within *limit* at *price* per image."""
    if limit is None:
        return len(images)
    total = 0.0
    for count, chunk_images in enumerate(images):
        total += chunk_images * price
        if total > limit + 1e-9:
            return count
    return len(images)


def observed_price(chunks: Sequence[ChunkState], price: float) -> float:
    """The configured *price*, or the highest actual price per image seen, if higher."""
    seen = [
        chunk.actual_cost / chunk.actual_images
        for chunk in chunks
        if chunk.status is ChunkStatus.FINISHED and chunk.actual_cost and chunk.actual_images
    ]
    return max([price, *seen])


def admit(index: int, chunks: Sequence[ChunkState], price: float, limit: float) -> Decision:
    """Decide whether chunk *index* may be submitted now (see the module's description)."""
    unit = observed_price(chunks, price)
    me = next(chunk for chunk in chunks if chunk.index == index)
    estimate = me.images * unit
    refused_before = [
        c.index for c in chunks if c.index < index and c.status is ChunkStatus.REFUSED
    ]
    committed = 0.0
    for chunk in chunks:
        if chunk.index == index:
            continue
        if chunk.status is ChunkStatus.FINISHED:
            committed += chunk.actual_cost if chunk.actual_cost is not None else chunk.images * unit
        elif chunk.status in (ChunkStatus.IN_FLIGHT, ChunkStatus.FAILED):
            committed += chunk.images * unit  # may have been paid for: count it
        elif chunk.status is ChunkStatus.NOT_STARTED and chunk.index < index:
            committed += chunk.images * unit  # earlier chunks come first
    summary = (
        f"committed {committed:.2f} USD + this chunk's {estimate:.2f} USD "
        f"({me.images} image(s) at {unit:.4f}) against a budget of {limit:.2f} USD"
    )
    if refused_before:
        return Decision(
            False,
            committed,
            estimate,
            unit,
            f"budget reached: chunk {refused_before[0]} was already refused, so no later chunk "
            f"is submitted ({summary})",
        )
    if committed + estimate > limit + 1e-9:
        return Decision(False, committed, estimate, unit, f"budget reached: {summary}")
    return Decision(True, committed, estimate, unit, f"within budget: {summary}")
