"""The ``imageInference`` task of Wan2.6 Image as a pydantic model, with the model's rules.

Every field carries its wire name as alias, so ``ImageInference.model_validate(wire_json)``
reads a request as Runware documents it and :meth:`ImageInference.to_wire` writes it back with
only the fields that were set. The limits live in :mod:`airflow_provider_wan.api.constants`.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from airflow_provider_wan.api import constants as c
from airflow_provider_wan.api.wire import RequestModel, WireInt

OutputType = Literal["URL", "dataURI", "base64Data"]
OutputFormat = Literal["JPG", "PNG", "WEBP"]
DeliveryMethod = Literal["sync", "async"]
SafetyMode = Literal["none", "fast"]

_DATA_URI = re.compile(r"^data:image/[a-zA-Z0-9.+-]+;base64,(?P<data>.+)$", re.DOTALL)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_base64(value: str) -> bool:
    compact = "".join(value.split())
    if not compact or len(compact) % 4:
        return False
    try:
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def describe_size_rule() -> str:
    """The Wan 2.6 size rule as one sentence, for error messages and docs."""
    return (
        f"width x height must be between {c.MIN_PIXELS:,} (576x1024) and "
        f"{c.MAX_PIXELS:,} (1440x1440) pixels, with width/height between "
        f"1:{c.MAX_ASPECT_RATIO} and {c.MAX_ASPECT_RATIO}:1"
    )


def size_problem(width: int, height: int) -> str | None:
    """Say why *width* x *height* breaks the Wan 2.6 size rule, or ``None`` when it holds."""
    area = width * height
    if not c.MIN_PIXELS <= area <= c.MAX_PIXELS:
        return f"the area is {area:,} pixels; {describe_size_rule()}"
    if width > c.MAX_ASPECT_RATIO * height or height > c.MAX_ASPECT_RATIO * width:
        return f"the aspect ratio is {width / height:.3g}:1; {describe_size_rule()}"
    return None


def _check_reference_image(value: str) -> str:
    if _is_uuid(value) or _is_http_url(value) or _is_base64(value):
        return value
    match = _DATA_URI.match(value)
    if match and _is_base64(match.group("data")):
        return value
    raise ValueError(
        "must be an image UUID, an http(s) URL, an image data URI (data:image/...;base64,...) "
        "or valid base64"
    )


def _check_secret_url(value: str) -> str:
    if not _is_http_url(value):
        raise ValueError("must be an absolute http(s) URL")
    return value


def _rule_error(field: str, value: str, rule: str) -> PydanticCustomError:
    """A rule across fields, tagged with the fields' wire names for error reports."""
    return PydanticCustomError(
        "wan_rule", "{field} = {value}: {rule}", {"field": field, "value": value, "rule": rule}
    )


ReferenceImage = Annotated[str, AfterValidator(_check_reference_image)]
SecretURL = Annotated[str, AfterValidator(_check_secret_url)]


class Safety(RequestModel):
    """Content checking: ``safety.checkContent`` and ``safety.mode``."""

    check_content: bool | None = Field(default=None, alias="checkContent")
    mode: SafetyMode | None = None


class Inputs(RequestModel):
    """Inputs of the task: up to four reference images."""

    reference_images: list[ReferenceImage] | None = Field(
        default=None,
        alias="referenceImages",
        min_length=1,
        max_length=c.REFERENCE_IMAGES_MAX,
    )


class AlibabaSettings(RequestModel):
    """Alibaba's own settings: ``promptExtend`` (LLM prompt rewriting, on by default)."""

    prompt_extend: bool | None = Field(default=None, alias="promptExtend")


class ProviderSettings(RequestModel):
    """Provider-specific settings, under ``providerSettings``."""

    alibaba: AlibabaSettings | None = None


class ImageInference(RequestModel):
    """One ``imageInference`` task for ``alibaba:wan@2.6-image``.

    Validated on construction against the model's documented rules; every field keeps its
    wire name as alias (``positivePrompt``, ``numberResults``...). Secrets (``webhookURL``,
    ``uploadEndpoint``) are left out of the repr and never echoed in validation errors.
    """

    task_type: Literal["imageInference"] = Field(default=c.TASK_IMAGE_INFERENCE, alias="taskType")
    task_uuid: str | None = Field(default=None, alias="taskUUID")
    model: Literal["alibaba:wan@2.6-image"] = c.WAN_IMAGE_MODEL
    positive_prompt: str = Field(
        alias="positivePrompt", min_length=1, max_length=c.POSITIVE_PROMPT_MAX
    )
    negative_prompt: str | None = Field(
        default=None, alias="negativePrompt", min_length=1, max_length=c.NEGATIVE_PROMPT_MAX
    )
    width: WireInt = Field(gt=0)
    height: WireInt = Field(gt=0)
    number_results: WireInt | None = Field(
        default=None, alias="numberResults", ge=1, le=c.NUMBER_RESULTS_MAX
    )
    output_type: OutputType | None = Field(default=None, alias="outputType")
    output_format: OutputFormat | None = Field(default=None, alias="outputFormat")
    output_quality: WireInt | None = Field(
        default=None, alias="outputQuality", ge=c.OUTPUT_QUALITY_MIN, le=c.OUTPUT_QUALITY_MAX
    )
    delivery_method: DeliveryMethod | None = Field(default=None, alias="deliveryMethod")
    webhook_url: SecretURL | None = Field(default=None, alias="webhookURL", repr=False)
    upload_endpoint: SecretURL | None = Field(default=None, alias="uploadEndpoint", repr=False)
    safety: Safety | None = None
    ttl: WireInt | None = Field(default=None, ge=c.TTL_MIN)
    include_cost: bool | None = Field(default=None, alias="includeCost")
    inputs: Inputs | None = None
    provider_settings: ProviderSettings | None = Field(default=None, alias="providerSettings")

    @field_validator("task_uuid", mode="before")
    @classmethod
    def _uuid_v4(cls, value: Any) -> Any:
        if value is None:
            return value
        text = str(value)
        try:
            parsed = uuid.UUID(text)
        except ValueError:
            raise ValueError("must be a UUID (version 4)") from None
        if parsed.version != 4:
            raise ValueError(f"is a version {parsed.version} UUID; it must be version 4")
        return str(parsed)

    @field_validator("output_format", mode="before")
    @classmethod
    def _format_upper(cls, value: Any) -> Any:
        # "jpg" and "JPEG" are what people type; the wire wants JPG, PNG or WEBP.
        if isinstance(value, str):
            upper = value.upper()
            return "JPG" if upper == "JPEG" else upper
        return value

    @model_validator(mode="after")
    def _model_rules(self) -> ImageInference:
        # taskType and model are always part of the wire object, even when left to default.
        self.__pydantic_fields_set__.update({"task_type", "model"})
        problem = size_problem(self.width, self.height)
        if problem:
            raise _rule_error("width, height", f"{self.width}x{self.height}", problem)
        if self.ttl is not None and self.output_type not in (None, "URL"):
            raise _rule_error(
                "ttl",
                str(self.ttl),
                f"ttl applies only to outputType 'URL', not {self.output_type!r}",
            )
        return self

    @property
    def expected_images(self) -> int:
        """How many images this task produces (``numberResults``, 1 by default)."""
        return self.number_results or 1

    @property
    def effective_output_type(self) -> OutputType:
        """The output type the API will use: ``URL`` when none was set."""
        return self.output_type or "URL"

    @property
    def effective_output_format(self) -> OutputFormat:
        """The output format the API will use: ``JPG`` when none was set."""
        return self.output_format or "JPG"
