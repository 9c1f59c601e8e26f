"""The emulator's options: capacity, timing, pricing and fault injection.

Both classes are frozen dataclasses. ``EmulatorConfig.updated(**changes)`` returns a new
configuration (used by ``POST /_emulator/config``); ``to_dict`` / ``from_dict`` give the JSON
shape of that endpoint.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The request-level fault kinds, in the order their probability ranges are laid out.
REQUEST_FAULT_KINDS = (
    "http_500",
    "http_503",
    "http_429",
    "drop_connection",
    "slow_response",
    "malformed_body",
)


def _check_rate(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
    if not 0.0 <= float(value) <= 1.0 or math.isnan(value):
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")


@dataclass(frozen=True)
class FaultConfig:
    """Probabilities (0..1) of injected faults.

    Request-level kinds are mutually exclusive: one uniform draw per authenticated
    ``POST /v1`` picks at most one of them, so their rates must sum to at most 1.

    :param http_500: answer 500 without processing the request (nothing accepted).
    :param http_503: answer 503 without processing the request (nothing accepted).
    :param http_429: answer 429 without processing the request (nothing accepted).
    :param retry_after: ``Retry-After`` seconds sent with injected 429 and 503; None omits it.
    :param drop_connection: close the connection without any response.
    :param drop_after_fraction: share of dropped connections that happen *after* the request
        was processed (tasks accepted, response lost); the rest drop before processing.
    :param slow_response: process the request, then wait ``slow_seconds`` before answering.
    :param slow_seconds: delay of a slow response.
    :param malformed_body: process the request, then answer 200 with a body that is not valid
        JSON (truncated JSON or an HTML page).
    :param task_error: per accepted imageInference task: fail it with ``task_error_code``.
    :param task_error_code: error code of an injected task failure.
    """

    http_500: float = 0.0
    http_503: float = 0.0
    http_429: float = 0.0
    retry_after: float | None = 1.0
    drop_connection: float = 0.0
    drop_after_fraction: float = 0.5
    slow_response: float = 0.0
    slow_seconds: float = 30.0
    malformed_body: float = 0.0
    task_error: float = 0.0
    task_error_code: str = "timeoutProvider"

    def __post_init__(self) -> None:
        for name in (*REQUEST_FAULT_KINDS, "task_error", "drop_after_fraction"):
            _check_rate(name, getattr(self, name))
        total = sum(float(getattr(self, name)) for name in REQUEST_FAULT_KINDS)
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"request-level fault rates must sum to at most 1, got {total:g} "
                f"({', '.join(REQUEST_FAULT_KINDS)})"
            )
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must be >= 0 or None, got {self.retry_after!r}")
        if self.slow_seconds < 0:
            raise ValueError(f"slow_seconds must be >= 0, got {self.slow_seconds!r}")
        if not self.task_error_code:
            raise ValueError("task_error_code must not be empty")

    @property
    def any_request_fault(self) -> bool:
        """Whether any request-level fault has a non-zero rate."""
        return any(getattr(self, name) > 0 for name in REQUEST_FAULT_KINDS)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-native form."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Build from a mapping; unknown keys are an error."""
        return cls(**_known_fields(cls, data))


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything that shapes the emulator's behaviour.

    :param api_keys: accepted bearer keys; an empty tuple accepts any non-empty key.
    :param generation_time: seconds to generate one image (a task's images are generated one
        after another in its slot).
    :param generation_jitter: relative jitter: each image takes
        ``generation_time * (1 + u)`` with ``u`` uniform in ``[-jitter, +jitter]``; 0..1.
    :param max_concurrent: tasks generating at once; the rest wait in a FIFO queue.
    :param queue_size: tasks allowed to wait; a POST that would queue more gets 429.
    :param cost_per_image: USD reported as ``cost`` with ``includeCost``.
    :param nsfw_word: a prompt containing this word (case-insensitive, whole word) gets
        ``NSFWContent: true`` when safety checking ran.
    :param seed: seeds fault injection, jitter and the per-image seeds.
    :param faults: fault injection rates.
    :param public_host: ``host[:port]`` (or a full ``scheme://host:port`` origin) used in
        ``imageURL``; None uses the origin the client called.
    :param image_retention: seconds a URL image without ``ttl`` stays downloadable.
    :param task_retention: seconds a finished task stays pollable with getResponse.
    :param webhook_max_attempts: POST attempts per webhook result before giving up.
    :param webhook_backoff: seconds before the first webhook retry; doubles each attempt.
    :param callback_timeout: seconds allowed for one upload PUT or webhook POST.
    :param allow_remote_callbacks: allow uploads and webhooks to hosts other than loopback.
    """

    api_keys: tuple[str, ...] = ()
    generation_time: float = 0.05
    generation_jitter: float = 0.0
    max_concurrent: int = 64
    queue_size: int = 10_000
    cost_per_image: float = 0.03
    nsfw_word: str = "nsfw"
    seed: int = 0
    faults: FaultConfig = field(default_factory=FaultConfig)
    public_host: str | None = None
    image_retention: float = 3600.0
    task_retention: float = 86_400.0
    webhook_max_attempts: int = 5
    webhook_backoff: float = 0.5
    callback_timeout: float = 5.0
    allow_remote_callbacks: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.api_keys, str):
            object.__setattr__(self, "api_keys", (self.api_keys,))
        else:
            object.__setattr__(self, "api_keys", tuple(self.api_keys))
        if isinstance(self.faults, Mapping):
            object.__setattr__(self, "faults", FaultConfig.from_dict(self.faults))
        if self.generation_time < 0:
            raise ValueError(f"generation_time must be >= 0, got {self.generation_time!r}")
        if not 0.0 <= self.generation_jitter <= 1.0:
            raise ValueError(f"generation_jitter must be in 0..1, got {self.generation_jitter!r}")
        if self.max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {self.max_concurrent!r}")
        if self.queue_size < 0:
            raise ValueError(f"queue_size must be >= 0, got {self.queue_size!r}")
        if self.webhook_max_attempts < 1:
            raise ValueError("webhook_max_attempts must be >= 1")
        for name in ("image_retention", "task_retention", "webhook_backoff", "callback_timeout"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")

    def updated(self, **changes: Any) -> EmulatorConfig:
        """A copy with ``changes`` applied; ``faults`` may be a mapping (replaces all rates)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown configuration field(s): {', '.join(sorted(unknown))}")
        if isinstance(changes.get("faults"), Mapping):
            changes["faults"] = FaultConfig.from_dict(changes["faults"])
        if "api_keys" in changes and isinstance(changes["api_keys"], list):
            changes["api_keys"] = tuple(changes["api_keys"])
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-native form (as returned by ``GET /_emulator/config``)."""
        data = dataclasses.asdict(self)
        data["api_keys"] = list(self.api_keys)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmulatorConfig:
        """Build from a mapping; unknown keys are an error."""
        return cls().updated(**dict(data))


def _known_fields(cls: type[Any], data: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown field(s) for {cls.__name__}: {', '.join(sorted(unknown))}")
    return dict(data)
