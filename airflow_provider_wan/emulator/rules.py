"""The emulator's own rules table for the tasks it understands.

Written from PROTOCOL.md, independently of the client's models in ``airflow_provider_wan.api``:
when both agree, the rule is probably right; when they disagree, a test fails and somebody reads
the documentation again.

``validate_task`` checks one task object and returns either a normalised request (defaults
applied) or one error object. Only the first violation of a task is reported, in this order:
task type, task UUID, unsupported parameters, then each parameter in table order, then the rules
that span parameters (the size rule, ``ttl`` with ``outputType``).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from PIL import Image, UnidentifiedImageError

from . import errors

MODEL = "alibaba:wan@2.6-image"

IMAGE_INFERENCE = "imageInference"
GET_RESPONSE = "getResponse"
IMAGE_UPLOAD = "imageUpload"
GET_TASK_DETAILS = "getTaskDetails"
TASK_TYPES = (IMAGE_INFERENCE, GET_RESPONSE, IMAGE_UPLOAD, GET_TASK_DETAILS)

#: The size rule: the image's area and aspect ratio, not each side.
MIN_AREA = 576 * 1024  # 589,824
MAX_AREA = 1440 * 1440  # 2,073,600
MIN_ASPECT = 1 / 4
MAX_ASPECT = 4.0

OUTPUT_TYPES = ("URL", "dataURI", "base64Data")
OUTPUT_FORMATS = ("JPG", "PNG", "WEBP")
DELIVERY_METHODS = ("sync", "async")
SAFETY_MODES = ("none", "fast")

_UUID_V4 = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.IGNORECASE
)
_UUID_ANY = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
)
_DATA_URI = re.compile(r"^data:(image/[A-Za-z0-9.+-]+);base64,(.*)$", re.DOTALL)


def is_uuid_v4(value: object) -> bool:
    """Whether ``value`` is a UUID v4 string in the canonical 8-4-4-4-12 form."""
    return isinstance(value, str) and _UUID_V4.match(value) is not None


def is_uuid(value: object) -> bool:
    """Whether ``value`` is a UUID string of any version in the 8-4-4-4-12 form."""
    return isinstance(value, str) and _UUID_ANY.match(value) is not None


def size_rule_holds(width: int, height: int) -> bool:
    """The Wan 2.6 size rule: area in [589,824, 2,073,600] and aspect ratio in [1:4, 4:1]."""
    if width <= 0 or height <= 0:
        return False
    area = width * height
    # Integer comparison of the aspect ratio avoids float rounding at exactly 1:4 and 4:1.
    return MIN_AREA <= area <= MAX_AREA and height <= 4 * width and width <= 4 * height


@dataclass(frozen=True)
class Param:
    """One row of the rules table.

    :param path: wire name, dotted for nested objects (``safety.mode``).
    :param kind: ``string``, ``integer``, ``boolean``, ``enum``, ``uri``, ``object`` or
        ``images`` (an array of image references).
    :param required: whether the parameter must be present.
    :param default: value used when absent.
    :param min: minimum length (string, images) or value (integer).
    :param max: maximum length (string, images) or value (integer).
    :param choices: allowed values of an enum.
    :param children: the parameters of an object.
    """

    path: str
    kind: str
    required: bool = False
    default: Any = None
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] = ()
    children: tuple[Param, ...] = field(default=())

    @property
    def leaf(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    @property
    def invalid_code(self) -> str:
        return "invalid" + self.leaf[0].upper() + self.leaf[1:]

    @property
    def missing_code(self) -> str:
        return "missing" + self.leaf[0].upper() + self.leaf[1:]

    @property
    def wire_type(self) -> str:
        return {
            "enum": "string",
            "uri": "string",
            "images": "array",
        }.get(self.kind, self.kind)

    def rule_sentence(self) -> str:
        """The rule in words, for the error message."""
        if self.kind == "string":
            return f"It must be a string of {self.min} to {self.max} characters."
        if self.kind == "integer":
            if self.max is None:
                return f"It must be an integer of at least {self.min}."
            return f"It must be an integer between {self.min} and {self.max}."
        if self.kind == "boolean":
            return "It must be a boolean (true or false)."
        if self.kind == "enum":
            return "It must be one of: " + ", ".join(self.choices) + "."
        if self.kind == "uri":
            return "It must be an absolute http or https URL."
        if self.kind == "object":
            return "It must be an object."
        return (
            f"It must be an array of {self.min} to {self.max} images, each an image UUID, "
            "an http(s) URL, a data URI (data:image/...;base64,...) or base64-encoded image data."
        )

    def bounds(self) -> dict[str, Any]:
        """The extra keys of the error object: ``type`` and, where relevant, bounds."""
        extra: dict[str, Any] = {"type": self.wire_type}
        if self.min is not None:
            extra["min"] = self.min
        if self.max is not None:
            extra["max"] = self.max
        if self.choices:
            extra["allowedValues"] = list(self.choices)
        return extra


#: The imageInference parameters for ``alibaba:wan@2.6-image``, in checking order.
IMAGE_INFERENCE_RULES: tuple[Param, ...] = (
    Param("model", "enum", required=True, choices=(MODEL,)),
    Param("positivePrompt", "string", required=True, min=1, max=2100),
    Param("negativePrompt", "string", min=1, max=500),
    Param("width", "integer", required=True),
    Param("height", "integer", required=True),
    Param("numberResults", "integer", default=1, min=1, max=20),
    Param("outputType", "enum", default="URL", choices=OUTPUT_TYPES),
    Param("outputFormat", "enum", default="JPG", choices=OUTPUT_FORMATS),
    Param("outputQuality", "integer", default=95, min=20, max=99),
    Param("deliveryMethod", "enum", default="sync", choices=DELIVERY_METHODS),
    Param("webhookURL", "uri"),
    Param("uploadEndpoint", "uri"),
    Param(
        "safety",
        "object",
        children=(
            Param("safety.checkContent", "boolean", default=False),
            Param("safety.mode", "enum", choices=SAFETY_MODES),
        ),
    ),
    Param("ttl", "integer", min=60),
    Param("includeCost", "boolean", default=False),
    Param("inputs", "object", children=(Param("inputs.referenceImages", "images", min=1, max=4),)),
    Param(
        "providerSettings",
        "object",
        children=(
            Param(
                "providerSettings.alibaba",
                "object",
                children=(Param("providerSettings.alibaba.promptExtend", "boolean", default=True),),
            ),
        ),
    ),
)

#: Parameters of the other task types (besides taskType and taskUUID).
IMAGE_UPLOAD_RULES: tuple[Param, ...] = (Param("image", "string", required=True),)


@dataclass(frozen=True)
class InferenceRequest:
    """A validated imageInference task with defaults applied."""

    task_uuid: str
    positive_prompt: str
    width: int
    height: int
    number_results: int
    output_type: str
    output_format: str
    output_quality: int
    delivery_method: str
    include_cost: bool
    check_content: bool
    negative_prompt: str | None = None
    webhook_url: str | None = None
    upload_endpoint: str | None = None
    ttl: int | None = None
    reference_images: tuple[str, ...] = ()
    prompt_extend: bool = True


@dataclass(frozen=True)
class UploadRequest:
    """A validated imageUpload task."""

    task_uuid: str
    image: str
    kind: str  # "url", "dataURI" or "base64"
    data: bytes | None  # decoded bytes, None for URLs


@dataclass(frozen=True)
class LookupRequest:
    """A validated getResponse or getTaskDetails task."""

    task_type: str
    task_uuid: str


Validated = InferenceRequest | UploadRequest | LookupRequest


class TaskRejected(Exception):
    """A task failed validation; ``error`` is its error object."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error


class _Checker:
    def __init__(self, task_type: str | None, task_uuid: str | None) -> None:
        self.task_type = task_type
        self.task_uuid = task_uuid

    def reject(self, code: str, message: str, parameter: str | None, **extra: Any) -> TaskRejected:
        return TaskRejected(
            errors.error_object(
                code,
                message,
                parameter=parameter,
                task_type=self.task_type,
                task_uuid=self.task_uuid,
                **extra,
            )
        )

    def invalid(self, param: Param, detail: str = "") -> TaskRejected:
        message = f"Invalid value for '{param.path}' parameter. {param.rule_sentence()}"
        if detail:
            message += f" {detail}"
        return self.reject(param.invalid_code, message, param.path, **param.bounds())

    def unsupported(self, path: str) -> TaskRejected:
        return self.reject(
            errors.UNSUPPORTED_PARAMETER,
            f"Unsupported parameter '{path}' for taskType '{self.task_type}'"
            + (f" with model '{MODEL}'." if self.task_type == IMAGE_INFERENCE else "."),
            path,
        )

    def check_unknown(self, obj: Mapping[str, Any], rules: tuple[Param, ...], prefix: str) -> None:
        known = {p.leaf for p in rules}
        for key in obj:
            if key not in known:
                raise self.unsupported(prefix + key)

    def check_params(
        self,
        obj: Mapping[str, Any],
        rules: tuple[Param, ...],
        known_image: Callable[[str], bool],
        out: dict[str, Any],
    ) -> None:
        prefix = rules[0].path[: -len(rules[0].leaf)] if rules else ""
        self.check_unknown(obj, rules, prefix)
        for param in rules:
            if param.leaf not in obj:
                if param.required:
                    raise self.reject(
                        param.missing_code,
                        f"Missing required parameter '{param.path}'. {param.rule_sentence()}",
                        param.path,
                        **param.bounds(),
                    )
                if param.kind != "object":
                    out[param.path] = param.default
                else:
                    self.check_params({}, param.children, known_image, out)
                continue
            value = obj[param.leaf]
            if param.kind == "object":
                if not isinstance(value, dict):
                    raise self.invalid(param)
                self.check_params(value, param.children, known_image, out)
                continue
            out[param.path] = self.check_value(param, value, known_image)

    def check_value(self, param: Param, value: Any, known_image: Callable[[str], bool]) -> Any:
        kind = param.kind
        if kind == "string":
            if not isinstance(value, str):
                raise self.invalid(param, f"Got {_json_type(value)}.")
            if (
                param.min is not None
                and param.max is not None
                and not (param.min <= len(value) <= param.max)
            ):
                raise self.invalid(param, f"Got {len(value)} characters.")
            return value
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.invalid(param, f"Got {_json_type(value)}.")
            if (param.min is not None and value < param.min) or (
                param.max is not None and value > param.max
            ):
                raise self.invalid(param, f"Got {value}.")
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                raise self.invalid(param, f"Got {_json_type(value)}.")
            return value
        if kind == "enum":
            if not isinstance(value, str) or value not in param.choices:
                raise self.invalid(param, f"Got {value!r}.")
            return value
        if kind == "uri":
            if not is_http_url(value):
                raise self.invalid(param)
            return value
        if kind == "images":
            if not isinstance(value, list):
                raise self.invalid(param, f"Got {_json_type(value)}.")
            assert param.min is not None and param.max is not None
            if not param.min <= len(value) <= param.max:
                raise self.invalid(param, f"Got {len(value)} items.")
            for index, item in enumerate(value):
                problem = image_reference_problem(item, known_image, allow_uuid=True)
                if problem:
                    raise self.invalid(param, f"Item {index}: {problem}")
            return tuple(value)
        raise AssertionError(f"unknown rule kind {kind}")  # pragma: no cover


def is_http_url(value: object) -> bool:
    """Whether ``value`` is an absolute http(s) URL with a host."""
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def decode_image_string(value: str) -> tuple[str, bytes | None] | str:
    """Classify an image given as a string (URL, data URI or base64).

    :return: ``(kind, decoded bytes)`` (bytes None for URLs), or a problem description.
    """
    if value.startswith(("http://", "https://")):
        return ("url", None) if is_http_url(value) else "not a valid http(s) URL."
    match = _DATA_URI.match(value)
    if value.startswith("data:"):
        if match is None:
            return "a data URI must look like data:image/<type>;base64,<data>."
        kind, payload = "dataURI", match.group(2)
    else:
        kind, payload = "base64", value
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return "not an image UUID, an http(s) URL, a data URI or valid base64."
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.size  # noqa: B018 - reading the header is the check
    except (UnidentifiedImageError, OSError, ValueError):
        return f"the {kind} data does not decode to an image."
    return kind, raw


def image_reference_problem(
    value: object, known_image: Callable[[str], bool], *, allow_uuid: bool
) -> str | None:
    """Why ``value`` is not a usable image reference, or None when it is."""
    if not isinstance(value, str) or not value:
        return f"expected a non-empty string, got {_json_type(value)}."
    if is_uuid(value):
        if not allow_uuid:
            return "an image UUID is not accepted here."
        if not known_image(value):
            return f"unknown image UUID {value!r} (upload it with imageUpload first)."
        return None
    decoded = decode_image_string(value)
    return decoded if isinstance(decoded, str) else None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__  # pragma: no cover


def task_identity(task: object) -> tuple[str | None, str | None]:
    """The task's ``taskType`` and ``taskUUID`` when they are strings (for error objects)."""
    if not isinstance(task, dict):
        return None, None
    task_type = task.get("taskType")
    task_uuid = task.get("taskUUID")
    return (
        task_type if isinstance(task_type, str) else None,
        task_uuid if isinstance(task_uuid, str) else None,
    )


def check_header(task: object) -> tuple[str, str]:
    """Check the task is an object with a known ``taskType`` and a UUID v4 ``taskUUID``.

    :return: the task type and task UUID.
    :raises TaskRejected: otherwise.
    """
    task_type, task_uuid = task_identity(task)
    checker = _Checker(task_type, task_uuid)
    if not isinstance(task, dict):
        raise checker.reject(
            errors.INVALID_TASK,
            f"Each task must be a JSON object, got {_json_type(task)}.",
            None,
        )
    if "taskType" not in task:
        raise checker.reject(
            "missingTaskType", "Missing required parameter 'taskType'.", "taskType"
        )
    if task_type not in TASK_TYPES:
        raise checker.reject(
            errors.UNSUPPORTED_TASK_TYPE,
            f"Invalid value for 'taskType' parameter. It must be one of: {', '.join(TASK_TYPES)}."
            f" Got {task.get('taskType')!r}.",
            "taskType",
            type="string",
            allowedValues=list(TASK_TYPES),
        )
    if "taskUUID" not in task:
        raise checker.reject(
            "missingTaskUUID",
            "Missing required parameter 'taskUUID'. It must be a UUID v4 string.",
            "taskUUID",
            type="string",
        )
    if task_type in (IMAGE_INFERENCE, IMAGE_UPLOAD):
        ok = is_uuid_v4(task.get("taskUUID"))
        rule = "It must be a UUID v4 string (xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx)."
    else:
        ok = is_uuid(task.get("taskUUID"))
        rule = "It must be the UUID of a task submitted earlier."
    if not ok:
        raise checker.reject(
            "invalidTaskUUID",
            f"Invalid value for 'taskUUID' parameter. {rule} Got {task.get('taskUUID')!r}.",
            "taskUUID",
            type="string",
        )
    assert task_type is not None and task_uuid is not None
    return task_type, task_uuid


def validate_task(task: dict[str, Any], known_image: Callable[[str], bool]) -> Validated:
    """Validate one task whose header already passed :func:`check_header`.

    :param task: the task object.
    :param known_image: tells whether an image UUID exists (uploaded or generated).
    :raises TaskRejected: with the first violation.
    """
    task_type, task_uuid = check_header(task)
    checker = _Checker(task_type, task_uuid)
    body = {k: v for k, v in task.items() if k not in ("taskType", "taskUUID")}
    if task_type == IMAGE_INFERENCE:
        return _validate_inference(checker, body, known_image)
    if task_type == IMAGE_UPLOAD:
        checker.check_unknown(body, IMAGE_UPLOAD_RULES, "")
        param = IMAGE_UPLOAD_RULES[0]
        if "image" not in body:
            raise checker.reject(
                param.missing_code,
                "Missing required parameter 'image'. It must be an http(s) URL, a data URI "
                "or base64-encoded image data.",
                "image",
                type="string",
            )
        value = body["image"]
        if not isinstance(value, str) or not value:
            raise checker.reject(
                param.invalid_code,
                "Invalid value for 'image' parameter. It must be a non-empty string.",
                "image",
                type="string",
            )
        decoded = decode_image_string(value)
        if isinstance(decoded, str):
            raise checker.reject(
                param.invalid_code,
                f"Invalid value for 'image' parameter: {decoded}",
                "image",
                type="string",
            )
        return UploadRequest(task_uuid, value, decoded[0], decoded[1])
    checker.check_unknown(body, (), "")
    return LookupRequest(task_type, task_uuid)


def _validate_inference(
    checker: _Checker, body: dict[str, Any], known_image: Callable[[str], bool]
) -> InferenceRequest:
    values: dict[str, Any] = {}
    checker.check_params(body, IMAGE_INFERENCE_RULES, known_image, values)
    width, height = values["width"], values["height"]
    if not size_rule_holds(width, height):
        area = width * height
        ratio = f"{width / height:.3f}" if height > 0 else "undefined"
        raise checker.reject(
            errors.INVALID_SIZE,
            "Invalid value for 'width' and 'height' parameters. The image area width*height "
            f"must be between {MIN_AREA:,} (576x1024) and {MAX_AREA:,} (1440x1440) pixels and "
            "the aspect ratio width/height between 1:4 and 4:1. "
            f"Got {width}x{height} ({area:,} pixels, ratio {ratio}).",
            "width",
            type="integer",
            min=MIN_AREA,
            max=MAX_AREA,
            minAspectRatio=MIN_ASPECT,
            maxAspectRatio=MAX_ASPECT,
        )
    if values["ttl"] is not None and values["outputType"] != "URL":
        raise checker.reject(
            errors.INCOMPATIBLE_PARAMETERS,
            "The 'ttl' parameter is only supported with outputType 'URL', "
            f"got outputType {values['outputType']!r}.",
            "ttl",
        )
    mode = values["safety.mode"]
    return InferenceRequest(
        task_uuid=checker.task_uuid or "",
        positive_prompt=values["positivePrompt"],
        negative_prompt=values["negativePrompt"],
        width=width,
        height=height,
        number_results=values["numberResults"],
        output_type=values["outputType"],
        output_format=values["outputFormat"],
        output_quality=values["outputQuality"],
        delivery_method=values["deliveryMethod"],
        include_cost=values["includeCost"],
        check_content=bool(values["safety.checkContent"]) or mode == "fast",
        webhook_url=values["webhookURL"],
        upload_endpoint=values["uploadEndpoint"],
        ttl=values["ttl"],
        reference_images=values["inputs.referenceImages"] or (),
        prompt_extend=values["providerSettings.alibaba.promptExtend"],
    )
