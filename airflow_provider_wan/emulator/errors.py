"""Runware's error objects and envelopes, as the emulator emits them."""

from __future__ import annotations

from typing import Any

DOCS_BASE = "https://runware.ai/docs/en/image-inference/api-reference"
PLATFORM_ERRORS_DOCS = "https://runware.ai/docs/platform/errors"

# Codes of request-level failures (the whole HTTP request).
INVALID_API_KEY = "invalidApiKey"
INVALID_REQUEST_BODY = "invalidRequestBody"
QUEUE_CAPACITY_EXCEEDED = "queueCapacityExceeded"
INTERNAL_SERVER_ERROR = "internalServerError"
SERVICE_UNAVAILABLE = "serviceUnavailable"

# Codes of per-task failures.
INVALID_TASK = "invalidTask"
UNSUPPORTED_TASK_TYPE = "unsupportedTaskType"
UNSUPPORTED_PARAMETER = "unsupportedParameter"
INCOMPATIBLE_PARAMETERS = "incompatibleParameters"
CONFLICT_TASK_UUID = "conflictTaskUUID"
TASK_NOT_FOUND = "taskNotFound"
INVALID_SIZE = "invalidSize"
UPLOAD_FAILED = "uploadFailed"


def error_object(
    code: str,
    message: str,
    *,
    parameter: str | None = None,
    task_type: str | None = None,
    task_uuid: str | None = None,
    documentation: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One entry of ``errors[]``: the six standard keys, then any extra ones (bounds...)."""
    if documentation is None:
        documentation = (
            f"{DOCS_BASE}#request-{parameter.split('.')[-1].lower()}"
            if parameter
            else PLATFORM_ERRORS_DOCS
        )
    obj: dict[str, Any] = {
        "code": code,
        "message": message,
        "parameter": parameter,
        "taskType": task_type,
        "taskUUID": task_uuid,
        "documentation": documentation,
    }
    obj.update(extra)
    return obj


def envelope(
    data: list[dict[str, Any]] | None = None, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The response body: ``data`` always, ``errors`` only when there are some."""
    body: dict[str, Any] = {"data": data or []}
    if errors:
        body["errors"] = errors
    return body


def request_error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """An envelope carrying one request-level error (auth, body, capacity, injected faults)."""
    return envelope([], [error_object(code, message, **extra)])
