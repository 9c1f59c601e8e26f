"""What the emulator remembers: tasks, images, uploaded images, counters and its clock."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .rules import InferenceRequest

# Task states. A queued task is reported as "processing" by getResponse, as Runware does not
# distinguish waiting from generating.
QUEUED = "queued"
PROCESSING = "processing"
SUCCESS = "success"
ERROR = "error"


class Clock:
    """Monotonic seconds with an adjustable offset, so tests can make a ttl expire at once.

    Only expiry and retention read this clock; generation timers use the event loop's.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass(slots=True)
class ImageRecord:
    """An image the emulator can serve: regenerated from its recipe, or stored bytes."""

    image_uuid: str
    output_format: str
    expires_at: float
    seed: int = 0
    prompt: str = ""
    width: int = 0
    height: int = 0
    quality: int = 95
    data: bytes | None = None  # stored bytes (uploaded images); None: regenerate on request
    source_url: str | None = None  # an uploaded image known only by its URL


@dataclass(slots=True)
class TaskRecord:
    """One accepted task and everything known about it."""

    task_uuid: str
    task_type: str
    request: dict[str, Any]
    origin: str
    accepted_at: float
    spec: InferenceRequest | None = None
    status: str = QUEUED
    results: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    seeds: tuple[int, ...] = ()
    injected_error: str | None = None
    finished_at: float | None = None
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in (SUCCESS, ERROR)


@dataclass
class Stats:
    """Counters behind ``GET /_emulator/stats``."""

    requests: int = 0
    requests_by_task_type: Counter[str] = field(default_factory=Counter)
    tasks_accepted: int = 0
    duplicate_submissions: int = 0
    validation_errors: int = 0
    capacity_rejections: int = 0
    auth_failures: int = 0
    tasks_succeeded: int = 0
    tasks_failed: int = 0
    images_generated: int = 0
    images_served: int = 0
    bytes_served: int = 0
    uploads_made: int = 0
    uploads_failed: int = 0
    bytes_uploaded: int = 0
    webhooks_made: int = 0
    webhooks_delivered: int = 0
    webhooks_failed: int = 0
    image_uploads: int = 0
    faults_injected: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["requests_by_task_type"] = dict(self.requests_by_task_type)
        data["faults_injected"] = dict(self.faults_injected)
        return data
