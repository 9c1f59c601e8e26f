"""Follow many tasks to the end: merge cumulative poll answers, know when each task is done.

Sans-I/O like :mod:`~airflow_provider_wan.api.protocol`: :func:`wait_steps` is a plan that
both clients drive with their own I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_wan.api.errors import TransientError
from airflow_provider_wan.api.protocol import Plan, PollUpdate, Sleep
from airflow_provider_wan.api.results import ImageResult, TaskError


@dataclass(frozen=True)
class PollSchedule:
    """How often to ask for results: start near the generation time, grow to a cap.

    Runware advises exponential backoff from 1 to 2 s. The defaults look after a second, then
    wait half as long again each time, up to 5 s: since one request polls hundreds of tasks,
    a short cap costs few requests and finds the last images soon after they are done.

    :param initial_delay: seconds before the first poll.
    :param multiplier: growth of the wait from one poll to the next.
    :param max_delay: the longest wait between two polls.
    :param max_consecutive_failures: polls in a row that may fail (after their own retries)
        before waiting gives up.
    """

    initial_delay: float = 1.0
    multiplier: float = 1.5
    max_delay: float = 5.0
    max_consecutive_failures: int = 5

    def __post_init__(self) -> None:
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("poll delays must not be negative")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be at least 1, not {self.multiplier}")
        if self.max_consecutive_failures < 0:
            raise ValueError("max_consecutive_failures must not be negative")

    def delays(self) -> Generator[float, None, None]:
        """The waits before each poll, forever."""
        delay = self.initial_delay
        while True:
            yield delay
            delay = min(self.max_delay, max(delay, 0.001) * self.multiplier)


class ResultsTracker:
    """The state of a set of tasks across polls.

    :param expected: task UUID -> how many images it will produce (``numberResults``), or
        ``None`` when unknown (then a task is done once a poll shows images and no work left).
    :param failed: tasks known to have failed already (refused at submission): terminal from
        the start, never polled.
    """

    def __init__(
        self,
        expected: Mapping[str, int | None],
        failed: Mapping[str, TaskError] | None = None,
    ) -> None:
        self.expected = dict(expected)
        self._images: dict[str, dict[str, ImageResult]] = {uuid: {} for uuid in self.expected}
        self._failed: dict[str, TaskError] = {}
        for uuid, error in (failed or {}).items():
            self.expected.setdefault(uuid, 0)
            self._images.setdefault(uuid, {})
            self._failed[uuid] = error
        self._finished_unknown: set[str] = set()

    def update(self, update: PollUpdate) -> int:
        """Merge one poll's answer; returns how many images were new."""
        new = 0
        for image in update.images:
            seen = self._images.get(image.task_uuid)
            if seen is not None and image.image_uuid not in seen:
                seen[image.image_uuid] = image
                new += 1
        for uuid, error in update.failed.items():
            if uuid in self._images:
                self._failed[uuid] = error
        for uuid, count in self.expected.items():
            if count is None and self._images[uuid] and uuid not in update.processing:
                self._finished_unknown.add(uuid)
        return new

    def is_terminal(self, uuid: str) -> bool:
        """Whether *uuid* has failed or produced every image it will."""
        if uuid in self._failed or uuid in self._finished_unknown:
            return True
        expected = self.expected[uuid]
        return expected is not None and len(self._images[uuid]) >= expected

    @property
    def pending(self) -> list[str]:
        """Task UUIDs still running, in the order they were given."""
        return [uuid for uuid in self.expected if not self.is_terminal(uuid)]

    @property
    def done(self) -> bool:
        """Whether every task is terminal."""
        return not self.pending

    @property
    def failures(self) -> dict[str, TaskError]:
        """Task UUID -> the error of each failed task."""
        return dict(self._failed)

    def images(self, uuid: str | None = None) -> list[ImageResult]:
        """Every distinct image so far, or those of one task."""
        uuids = [uuid] if uuid is not None else list(self._images)
        return [image for key in uuids for image in self._images[key].values()]

    @property
    def image_count(self) -> int:
        """How many distinct images have arrived."""
        return sum(len(images) for images in self._images.values())

    @property
    def expected_images(self) -> int | None:
        """How many images the tasks will produce in all, when every count is known."""
        counts = list(self.expected.values())
        return None if any(count is None for count in counts) else sum(c for c in counts if c)

    @property
    def cost(self) -> float:
        """The cost (USD) reported so far."""
        return round(sum(image.cost or 0.0 for image in self.images()), 6)

    def progress(self) -> str:
        """One readable line, e.g. ``37/100 images ready, 2 failed, 1.11 USD so far``."""
        total = self.expected_images
        ready = f"{self.image_count}/{total}" if total is not None else f"{self.image_count}"
        text = f"{ready} images ready, {len(self._failed)} failed"
        if any(image.cost is not None for image in self.images()):
            text += f", {self.cost:.2f} USD so far"
        return text

    def snapshot(self) -> dict[str, Any]:
        """A small JSON-native state: results without inline data, failures, pending UUIDs."""
        return {
            "images": [image.summary() for image in self.images()],
            "failures": {
                uuid: error.model_dump(mode="json") for uuid, error in self._failed.items()
            },
            "pending": self.pending,
        }


def wait_steps(
    tracker: ResultsTracker,
    poll: Callable[[Sequence[str]], Plan[PollUpdate]],
    *,
    schedule: PollSchedule,
    deadline: float,
    clock: Callable[[], float] = time.time,
    on_update: Callable[[ResultsTracker, int], None] | None = None,
) -> Plan[ResultsTracker]:
    """Poll until every task is terminal or *deadline* (a ``clock()`` time) passes.

    A poll that still fails after its own retries is tolerated up to
    ``schedule.max_consecutive_failures`` times in a row, then its error is raised.

    :param poll: makes the plan of one (batched) poll of the given task UUIDs.
    :param on_update: called after each successful poll with the tracker and the number of
        new images.
    """
    failures_in_a_row = 0
    for delay in schedule.delays():
        if tracker.done:
            break
        remaining = deadline - clock()
        if remaining <= 0:
            break
        yield Sleep(min(delay, remaining))
        try:
            update = yield from poll(tracker.pending)
        except TransientError:
            failures_in_a_row += 1
            if failures_in_a_row > schedule.max_consecutive_failures:
                raise
            continue
        failures_in_a_row = 0
        new = tracker.update(update)
        if on_update is not None:
            on_update(tracker, new)
    return tracker
