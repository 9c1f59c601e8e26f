"""Turn requests into validated models, with errors that name the field, the value and the rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from airflow_provider_wan.api.errors import InvalidRequestError, Problem
from airflow_provider_wan.api.inference import ImageInference
from airflow_provider_wan.api.redaction import redact_url, shorten

# Fields whose values are credentials: shown without their query string, never whole.
SECRET_FIELDS = frozenset({"webhookURL", "uploadEndpoint"})


def _field_name(error: ErrorDetails) -> str:
    ctx = error.get("ctx") or {}
    if error["type"] == "wan_rule":
        return str(ctx["field"])
    return ".".join(str(part) for part in error["loc"]) or "request"


def _show(field: str, value: Any) -> str:
    if value is None or isinstance(value, (Mapping, list)):
        return shorten(repr(value), 60)
    text = str(value)
    if field.split(".")[-1] in SECRET_FIELDS:
        return repr(redact_url(shorten(text, 60)))
    return repr(shorten(text, 60)) if isinstance(value, str) else shorten(text, 60)


def problems_from(error: ValidationError) -> list[Problem]:
    """Describe each error of a pydantic ``ValidationError`` as field, value and rule."""
    problems = []
    for detail in error.errors(include_url=False):
        field = _field_name(detail)
        ctx = detail.get("ctx") or {}
        if detail["type"] == "wan_rule":
            problems.append(Problem(field, str(ctx["value"]), str(ctx["rule"])))
            continue
        rule = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            rule = "not a parameter of imageInference for this model"
        problems.append(Problem(field, _show(field, detail.get("input")), rule))
    return problems


def parse_inference(
    request: ImageInference | Mapping[str, Any], *, index: int | None = None
) -> ImageInference:
    """Validate one request (a model, or a mapping with wire or Python names).

    :raises InvalidRequestError: naming every broken rule, before anything is sent.
    """
    if isinstance(request, ImageInference):
        return request
    if not isinstance(request, Mapping):
        raise InvalidRequestError(
            [Problem("request", shorten(repr(request), 60), "must be an object (a mapping)")],
            index=index,
        )
    try:
        return ImageInference.model_validate(dict(request))
    except ValidationError as error:
        raise InvalidRequestError(problems_from(error), index=index) from None


def parse_inferences(
    requests: Iterable[ImageInference | Mapping[str, Any]],
) -> list[ImageInference]:
    """Validate every request; the error names the index of the first invalid one.

    :raises InvalidRequestError: for the first request that breaks a rule.
    """
    return [parse_inference(request, index=i) for i, request in enumerate(requests)]


def check_unique_task_uuids(tasks: Sequence[ImageInference]) -> None:
    """Refuse a list where two tasks share a task UUID: the API would refuse the second."""
    seen: dict[str, int] = {}
    for index, task in enumerate(tasks):
        if task.task_uuid is None:
            continue
        if task.task_uuid in seen:
            raise InvalidRequestError(
                [
                    Problem(
                        "taskUUID",
                        task.task_uuid,
                        f"already used by request {seen[task.task_uuid]}",
                    )
                ],
                index=index,
            )
        seen[task.task_uuid] = index
