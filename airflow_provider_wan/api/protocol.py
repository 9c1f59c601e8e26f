"""The Runware REST protocol without I/O: request bodies, response reading, retry decisions.

Every procedure is a *plan*: a generator that yields :class:`Send` (post this body) and
:class:`Sleep` (wait this long), receives the HTTP response or the transport error, and returns
its result. Plans compose with ``yield from``; the sync and the async client differ only in how
they perform those two actions.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from airflow_provider_wan.api import constants as c
from airflow_provider_wan.api.errors import (
    APIValidationError,
    AuthenticationError,
    InsufficientCreditError,
    ProtocolError,
    RunwareAPIError,
    TransientError,
)
from airflow_provider_wan.api.inference import ImageInference
from airflow_provider_wan.api.redaction import redact_text, shorten
from airflow_provider_wan.api.results import ImageResult, TaskError
from airflow_provider_wan.api.retry import RetryPolicy, is_retryable_status, parse_retry_after

log = logging.getLogger(__name__)

_BODY_EXCERPT = 300
_MIN_SECRET_LENGTH = 8
_PROCESSING = frozenset({"processing", "pending"})


@dataclass(frozen=True)
class Send:
    """Action: POST this JSON body to the API and send back the response or transport error."""

    body: bytes
    description: str


@dataclass(frozen=True)
class Sleep:
    """Action: wait this many seconds, then send back ``None``."""

    seconds: float


Outcome = httpx.Response | httpx.RequestError | None
T = TypeVar("T")
Plan = Generator[Send | Sleep, Outcome, T]
"""A protocol procedure as a generator: it yields actions and returns its result."""


@dataclass(frozen=True)
class Envelope:
    """A response body read into its two lists: ``data`` items and ``errors``."""

    data: list[dict[str, Any]]
    errors: list[TaskError]
    status_code: int


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""

    def __init__(
        self,
        reason: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        errors: Sequence[TaskError] = (),
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.retry_after = retry_after
        self.errors = list(errors)


def excerpt(text: str) -> str:
    """A body shortened and stripped of URL query strings, safe for an exception's text."""
    return shorten(redact_text(text), _BODY_EXCERPT)


def read_envelope(payload: Any, status_code: int) -> Envelope:
    """Read a decoded body as ``{"data": [...], "errors": [...]}``, tolerating known variants.

    ``data`` may be a list or a single object; errors may come as ``errors`` (a list) or, in an
    older variant, as a single top-level ``error`` object.

    :raises ProtocolError: when the body has another shape.
    """
    if not isinstance(payload, Mapping):
        raise ProtocolError(
            f"Expected a JSON object with 'data' from Runware (HTTP {status_code}), got "
            f"{type(payload).__name__}: {excerpt(json.dumps(payload))}"
        )
    raw_data = payload.get("data")
    if raw_data is None:
        raw_data = []
    elif isinstance(raw_data, Mapping):
        raw_data = [raw_data]
    raw_errors = payload.get("errors")
    if raw_errors is None:
        raw_errors = [payload["error"]] if isinstance(payload.get("error"), Mapping) else []
    elif isinstance(raw_errors, Mapping):
        raw_errors = [raw_errors]
    if not isinstance(raw_data, list) or not isinstance(raw_errors, list):
        raise ProtocolError(
            f"Unexpected 'data' or 'errors' in Runware's answer (HTTP {status_code}): "
            f"{excerpt(json.dumps(payload))}"
        )
    if not all(isinstance(item, Mapping) for item in [*raw_data, *raw_errors]):
        raise ProtocolError(
            f"Runware's answer holds items that are not objects (HTTP {status_code}): "
            f"{excerpt(json.dumps(payload))}"
        )
    try:
        errors = [TaskError.model_validate(item) for item in raw_errors]
    except ValidationError:
        raise ProtocolError(
            f"Unreadable error objects from Runware (HTTP {status_code}): "
            f"{excerpt(json.dumps(payload))}"
        ) from None
    return Envelope(data=[dict(item) for item in raw_data], errors=errors, status_code=status_code)


@dataclass(frozen=True)
class _Answer:
    """An HTTP response, read with the secrets it must never repeat (an API may echo the key)."""

    status: int
    reason: str
    retry_after: str | None
    body: bytes
    secrets: tuple[str, ...]

    @classmethod
    def of(cls, response: httpx.Response, secrets: Sequence[str]) -> _Answer:
        # Too short a "secret" would blank out ordinary words; real keys are long.
        kept = tuple(secret for secret in secrets if len(secret) >= _MIN_SECRET_LENGTH)
        return cls(
            response.status_code,
            response.reason_phrase,
            response.headers.get("Retry-After"),
            response.content,
            kept,
        )

    def scrub(self, text: str) -> str:
        """*text* without the secrets, its URL query strings, shortened: fit for an exception."""
        return excerpt(redact_text(text, self.secrets))

    @property
    def text(self) -> str:
        return self.scrub(self.body.decode("utf-8", errors="replace"))

    def decode(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise _Retry(
                f"unreadable body (HTTP {self.status}): {self.text}", status_code=self.status
            ) from None

    def errors(self) -> list[TaskError]:
        """The error objects of an error response, or none when its body is not an envelope."""
        try:
            errors = read_envelope(json.loads(self.body), self.status).errors
        except (ValueError, ProtocolError):
            return []
        return [self.scrub_error(error) for error in errors]

    def scrub_error(self, error: TaskError) -> TaskError:
        if not self.secrets:
            return error
        return error.model_copy(update={"message": redact_text(error.message, self.secrets)})


def _summary(errors: Sequence[TaskError], fallback: str) -> str:
    if not errors:
        return fallback
    text = "; ".join(error.describe() for error in errors[:3])
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return shorten(redact_text(text + more), 500)


def interpret(response: httpx.Response, secrets: Sequence[str] = ()) -> Envelope:
    """Turn one HTTP response into an :class:`Envelope`, a typed error, or a reason to retry.

    :param secrets: strings (the API key) to scrub from the body before it is read, so an API
        that echoes them cannot carry them into an exception or a log line.
    """
    answer = _Answer.of(response, secrets)
    status = answer.status
    if is_retryable_status(status):
        errors = answer.errors()
        raise _Retry(
            f"HTTP {status}: {_summary(errors, answer.reason)}",
            status_code=status,
            retry_after=parse_retry_after(answer.retry_after),
            errors=errors,
        )
    if 200 <= status < 300 or status == 400:
        payload = answer.decode()
        try:
            envelope = read_envelope(payload, status)
        except ProtocolError:
            if status == 400:
                raise APIValidationError(
                    f"Runware refused the request (HTTP 400): {answer.text}", status_code=status
                ) from None
            raise
        errors = [answer.scrub_error(error) for error in envelope.errors]
        return Envelope(data=envelope.data, errors=errors, status_code=status)
    errors = answer.errors()
    detail = _summary(errors, answer.text or answer.reason)
    if status in (401, 403):
        raise AuthenticationError(
            f"Runware refused the API key (HTTP {status}): {detail}",
            status_code=status,
            errors=errors,
        )
    if status == 402:
        raise InsufficientCreditError(
            f"Runware says the balance is insufficient (HTTP 402): {detail}",
            status_code=status,
            errors=errors,
        )
    hint = " Is the base URL right?" if status == 404 else ""
    raise RunwareAPIError(
        f"Runware answered HTTP {status}: {detail}.{hint}", status_code=status, errors=errors
    )


def exchange(
    body: Sequence[Mapping[str, Any]],
    *,
    description: str,
    policy: RetryPolicy,
    rng: random.Random,
    secrets: Sequence[str] = (),
    clock: Callable[[], float] = time.monotonic,
) -> Plan[Envelope]:
    """Post *body* until it gets a definite answer, retrying what is transient.

    :param secrets: strings never to let through into errors or logs (the API key).

    :raises TransientError: when retries are spent on 408, 429, 5xx or transport failures.
    """
    payload = json.dumps(list(body), separators=(",", ":")).encode()
    started = clock()
    attempts = 0
    while True:
        attempts += 1
        outcome = yield Send(payload, description)
        try:
            if isinstance(outcome, httpx.RequestError):
                raise _Retry(f"{type(outcome).__name__}: {excerpt(str(outcome)) or 'no detail'}")
            if outcome is None:
                raise TypeError("an exchange must be sent the response to its Send")
            return interpret(outcome, secrets)
        except _Retry as failure:
            delay = policy.next_delay(
                attempts, clock() - started, retry_after=failure.retry_after, rng=rng
            )
            if delay is None:
                raise TransientError(
                    f"Runware request ({description}) failed after {attempts} attempt(s): "
                    f"{failure.reason}",
                    attempts=attempts,
                    status_code=failure.status_code,
                    errors=failure.errors,
                ) from None
            log.warning(
                "Runware request (%s) failed: %s; retrying in %.1f s (attempt %d of %d)",
                description,
                failure.reason,
                delay,
                attempts + 1,
                policy.max_attempts,
            )
            yield Sleep(delay)


def batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """Split *items* into consecutive slices of at most *size*."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    return [items[start : start + size] for start in range(0, len(items), size)]


# --- submission --------------------------------------------------------------------------


@dataclass
class SubmitResult:
    """What became of submitted tasks.

    :ivar accepted: task UUIDs the API accepted now.
    :ivar already_submitted: task UUIDs the API already had (``conflictTaskUUID``): poll them.
    :ivar rejected: task UUID -> the error the API refused it with.
    :ivar results: images that came back at once (``deliveryMethod: sync``).
    """

    accepted: list[str] = field(default_factory=list)
    already_submitted: list[str] = field(default_factory=list)
    rejected: dict[str, TaskError] = field(default_factory=dict)
    results: list[ImageResult] = field(default_factory=list)

    @property
    def in_flight(self) -> list[str]:
        """Every task UUID the API holds: accepted now or before."""
        return [*self.accepted, *self.already_submitted]

    def merge(self, other: SubmitResult) -> None:
        """Add the outcome of another batch to this one."""
        self.accepted.extend(other.accepted)
        self.already_submitted.extend(other.already_submitted)
        self.rejected.update(other.rejected)
        self.results.extend(other.results)


def submission_body(tasks: Sequence[ImageInference]) -> list[dict[str, Any]]:
    """The wire objects of *tasks*; each must carry its task UUID."""
    body = []
    for index, task in enumerate(tasks):
        if task.task_uuid is None:
            raise ValueError(f"task {index} has no taskUUID; give every task one before submitting")
        body.append(task.to_wire())
    return body


def _attribute(errors: Sequence[TaskError], uuids: Sequence[str]) -> dict[str, TaskError]:
    """Map errors to task UUIDs; an error without one belongs to a lone task, else is global.

    An error about a task UUID that was not asked about is not ours: it is logged and left out.
    """
    attributed: dict[str, TaskError] = {}
    loose = []
    for error in errors:
        if error.task_uuid is None:
            loose.append(error)
        elif error.task_uuid in uuids:
            attributed[error.task_uuid] = error
        else:
            log.debug("Ignoring an error about task %s, not part of this request", error.task_uuid)
    if loose:
        unclaimed = [uuid for uuid in uuids if uuid not in attributed]
        if len(unclaimed) == 1 and len(loose) == 1:
            attributed[unclaimed[0]] = loose[0]
        else:
            raise APIValidationError(
                f"Runware refused the request: {_summary(loose, 'no detail')}",
                status_code=None,
                errors=loose,
            )
    return attributed


def read_submission(tasks: Sequence[ImageInference], envelope: Envelope) -> SubmitResult:
    """Sort one submission's answer into accepted, already submitted, rejected and results."""
    uuids = [task.task_uuid for task in tasks if task.task_uuid]
    errors = _attribute(envelope.errors, uuids)
    result = SubmitResult()
    for item in envelope.data:
        if item.get("imageUUID") and item.get("taskUUID") in uuids:
            result.results.append(_read_item(ImageResult, item))
    for uuid in uuids:
        error = errors.get(uuid)
        if error is None:
            # Acknowledged, answered with results, or (a documented variant) acknowledged by an
            # empty data list: the API holds the task.
            result.accepted.append(uuid)
        elif error.code == c.CODE_CONFLICT_TASK_UUID:
            result.already_submitted.append(uuid)
        else:
            result.rejected[uuid] = error
    return result


def rejection_error(result: SubmitResult) -> APIValidationError:
    """The exception for a submission in which the API refused some tasks."""
    errors = list(result.rejected.values())
    error = APIValidationError(
        f"Runware refused {len(errors)} task(s): {_summary(errors, 'no detail')}",
        status_code=400,
        errors=errors,
    )
    error.submit_result = result
    return error


# --- polling -----------------------------------------------------------------------------


def poll_body(task_uuids: Sequence[str]) -> list[dict[str, str]]:
    """One ``getResponse`` task per UUID, to share one request."""
    return [{"taskType": c.TASK_GET_RESPONSE, "taskUUID": uuid} for uuid in task_uuids]


@dataclass
class PollUpdate:
    """The state of polled tasks as one ``getResponse`` answer reports it.

    :ivar images: finished images (cumulative: an image may have been seen before).
    :ivar processing: task UUIDs still being worked on.
    :ivar failed: task UUID -> the error it ended with.
    """

    images: list[ImageResult] = field(default_factory=list)
    processing: set[str] = field(default_factory=set)
    failed: dict[str, TaskError] = field(default_factory=dict)

    def merge(self, other: PollUpdate) -> None:
        """Add the answer of another poll request to this one."""
        self.images.extend(other.images)
        self.processing.update(other.processing)
        self.failed.update(other.failed)


M = TypeVar("M", ImageResult, TaskError)


def _read_item(model: type[M], item: Mapping[str, Any]) -> M:
    """One data item as *model*; a field of the wrong type is the API's fault: ProtocolError."""
    try:
        return model.model_validate(item)
    except ValidationError:
        raise ProtocolError(
            f"Unreadable {model.__name__} for task {item.get('taskUUID')}: "
            f"{excerpt(json.dumps(item))}"
        ) from None


def read_poll(task_uuids: Sequence[str], envelope: Envelope) -> PollUpdate:
    """Read a ``getResponse`` answer for *task_uuids*.

    :raises ProtocolError: when an item cannot be read as a result.
    """
    update = PollUpdate()
    asked = set(task_uuids)
    for item in envelope.data:
        uuid = item.get("taskUUID")
        if not isinstance(uuid, str) or uuid not in asked:
            continue
        status = str(item.get("status", "")).lower()
        if status in _PROCESSING or (not status and not item.get("imageUUID")):
            update.processing.add(uuid)
        elif status == "error":
            # Seen in Runware's SDK: the error nested in the item ({"error": {code, message}}).
            nested = item.get("error")
            flat = {**item, **nested} if isinstance(nested, Mapping) else item
            update.failed[uuid] = _read_item(TaskError, flat)
        elif item.get("imageUUID"):
            update.images.append(_read_item(ImageResult, item))
    for uuid, error in _attribute(envelope.errors, list(task_uuids)).items():
        update.failed[uuid] = error
    return update
