"""Reproducible fault decisions.

Each authenticated ``POST /v1`` takes one draw from a ``random.Random`` seeded with the
configuration's ``seed``; the draw falls into at most one request-level fault kind (their rates
are laid out one after another on [0, 1)). A dropped connection takes a second draw to decide
whether it happens before or after the request is processed. Each accepted imageInference task
takes one draw from a second stream for ``task_error``. The same seed, configuration and
sequence of requests therefore give the same faults.
"""

from __future__ import annotations

import random

from .config import REQUEST_FAULT_KINDS, FaultConfig

#: The names under which faults are counted in ``stats()["faults_injected"]``.
DROP_BEFORE = "drop_before"
DROP_AFTER = "drop_after"
FAULT_KINDS = (
    "http_500",
    "http_503",
    "http_429",
    DROP_BEFORE,
    DROP_AFTER,
    "slow_response",
    "malformed_body",
    "task_error",
)


class FaultInjector:
    """Draws faults from streams seeded by ``seed``."""

    def __init__(self, faults: FaultConfig, seed: int) -> None:
        self.faults = faults
        self._requests = random.Random(f"{seed}:requests")
        self._tasks = random.Random(f"{seed}:tasks")
        self._bodies = random.Random(f"{seed}:bodies")

    def reseed(self, seed: int) -> None:
        """Restart the streams (reset, or a new seed)."""
        self.__init__(self.faults, seed)  # type: ignore[misc]

    def request_fault(self) -> str | None:
        """The fault for the next request: a kind of :data:`FAULT_KINDS` or None."""
        if not self.faults.any_request_fault:
            return None
        draw = self._requests.random()
        edge = 0.0
        for kind in REQUEST_FAULT_KINDS:
            edge += float(getattr(self.faults, kind))
            if draw < edge:
                if kind == "drop_connection":
                    after = self._requests.random() < self.faults.drop_after_fraction
                    return DROP_AFTER if after else DROP_BEFORE
                return kind
        return None

    def task_fails(self) -> bool:
        """Whether the next accepted imageInference task gets an injected error."""
        draw = self._tasks.random()
        return draw < self.faults.task_error

    def malformed(self, body: bytes) -> bytes:
        """A broken version of ``body``: truncated JSON, or an HTML error page."""
        if self._bodies.random() < 0.5 and len(body) > 1:
            return body[: max(1, len(body) // 2)]
        return b"<html><body><h1>502 Bad Gateway</h1></body></html>"
