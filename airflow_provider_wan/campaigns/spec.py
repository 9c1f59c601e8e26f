"""The campaign file as pydantic models: every key, its default and its rule, written once.

Unknown keys are refused everywhere (``extra="forbid"``) except in a variant, whose extra keys
are template fields. :func:`validate_campaign` turns pydantic's errors into
:class:`~airflow_provider_wan.campaigns.problems.Problem` objects that name the file, the line
(from :class:`~airflow_provider_wan.campaigns.yaml_source.LocatedYAML`) and the dotted key.

Nothing here imports Airflow or touches the network: parsing a campaign is cheap enough for the
DAG processor to do every few seconds.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from airflow_provider_wan.api import constants as c
from airflow_provider_wan.api.wire import deep_merge
from airflow_provider_wan.campaigns.presets import parse_size
from airflow_provider_wan.campaigns.problems import Problem
from airflow_provider_wan.campaigns.yaml_source import KeyPath, LocatedYAML, format_path

KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
"""Item keys and variant names: letters, digits, ``.``, ``_``, ``-``; at most 128; they end up
in object names and task UUIDs."""
_DAG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")
_CRON_PRESETS = frozenset(
    {"@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@once", "@continuous"}
)
DEFAULT_COST_PER_IMAGE = 0.03
"""The estimated price of one Wan2.6 image in USD, used for budgets and ``wan campaign render``."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Connections(_Model):
    """Airflow connection ids; the provider's defaults when left out."""

    runware: str = Field("runware_default", min_length=1)
    gcp: str = Field("google_cloud_default", min_length=1)
    aws: str = Field("aws_default", min_length=1)


class Safety(_Model):
    """Runware's content check (``safety``)."""

    check_content: StrictBool | None = None
    mode: Literal["none", "fast"] | None = None


class Generation(_Model):
    """Defaults for every request of the campaign."""

    size: tuple[int, int] = (1024, 1024)
    output_format: Literal["JPG", "PNG", "WEBP"] = "WEBP"
    output_quality: StrictInt | None = Field(None, ge=c.OUTPUT_QUALITY_MIN, le=c.OUTPUT_QUALITY_MAX)
    number_results: StrictInt = Field(1, ge=1, le=c.NUMBER_RESULTS_MAX)
    safety: Safety | None = None
    prompt_extend: StrictBool = False

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> tuple[int, int]:
        return parse_size(value)

    @field_validator("output_format", mode="before")
    @classmethod
    def _format(cls, value: Any) -> Any:
        if isinstance(value, str):
            upper = value.strip().upper()
            return "JPG" if upper == "JPEG" else upper
        return value

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]


class Items(_Model):
    """Where the items come from, and which field is their key."""

    key: str = Field(description="the item field that names each item (unique)")
    inline: list[dict[str, Any]] | None = None
    source: str | None = None
    format: Literal["csv", "jsonl"] | None = None

    @field_validator("key")
    @classmethod
    def _key_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name an item field")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Items:
        if (self.inline is None) == (self.source is None):
            raise ValueError("give exactly one of 'inline' (a list of items) or 'source' (a file)")
        if self.source is not None:
            fmt = self.format or source_format(self.source)
            if fmt is None:
                raise ValueError(
                    f"cannot tell the format of {self.source!r} from its extension: name it "
                    ".csv or .jsonl, or set 'format'"
                )
        return self

    @property
    def remote(self) -> bool:
        """The source is a ``gs://`` or ``s3://`` object, read at run time."""
        return self.source is not None and self.source.startswith(("gs://", "s3://"))


def source_format(source: str) -> Literal["csv", "jsonl"] | None:
    """The item file format from its extension."""
    lower = source.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return None


class Variant(BaseModel):
    """One variation of every item (``name`` plus any template fields)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not KEY_PATTERN.match(value):
            raise ValueError(
                f"{value!r}: a variant name is 1 to 128 letters, digits, '.', '_' or '-' "
                "(it becomes part of item keys)"
            )
        return value

    @property
    def fields(self) -> dict[str, Any]:
        """Every key of the variant, name included."""
        return {"name": self.name, **(self.model_extra or {})}


class Budget(_Model):
    """A per-run spending cap (see docs/campaigns.md, "Budget")."""

    limit_usd: float = Field(gt=0)
    cost_per_image_usd: float = Field(DEFAULT_COST_PER_IMAGE, gt=0)
    on_exceeded: Literal["fail", "succeed"] = "fail"

    @model_validator(mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return {"limit_usd": value}
        return value


class Wait(_Model):
    """How each chunk waits for its images."""

    timeout_minutes: float = Field(60, gt=0)
    poll_interval_seconds: float = Field(2.0, gt=0)
    max_poll_interval_seconds: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _order(self) -> Wait:
        if self.max_poll_interval_seconds < self.poll_interval_seconds:
            raise ValueError("max_poll_interval_seconds must not be below poll_interval_seconds")
        return self


class ContactSheet(_Model):
    """The PNG grid of thumbnails written next to the run manifest."""

    enabled: StrictBool = True
    thumbnail_px: StrictInt = Field(256, ge=64, le=1024)
    max_images: StrictInt = Field(200, ge=1, le=2000)

    @model_validator(mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value


class TimetableSchedule(_Model):
    """A timetable class by import path, with keyword arguments."""

    timetable: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    @field_validator("timetable")
    @classmethod
    def _importable(cls, value: str) -> str:
        check_timetable_path(value)
        return value


class Campaign(_Model):
    """One campaign file: a scheduled DAG that renders items into Wan2.6 image requests."""

    name: str
    description: str | None = None
    schedule: str | TimetableSchedule | None = None
    start_date: date | None = None
    catchup: StrictBool = False
    timezone: str = "UTC"
    tags: list[str] = Field(default_factory=list)
    owner: str = "airflow"
    retries: StrictInt = Field(2, ge=0, le=20)
    retry_delay_seconds: float = Field(60, ge=0)
    max_active_runs: StrictInt = Field(1, ge=1, le=32)

    connections: Connections = Field(default_factory=Connections)
    generation: Generation = Field(default_factory=Generation)
    prompt: str = Field(min_length=1)
    negative_prompt: str | None = None
    reference_images: list[str] = Field(default_factory=list, max_length=c.REFERENCE_IMAGES_MAX)

    items: Items
    variants: list[Variant] = Field(default_factory=list)

    chunk_size: StrictInt = Field(25, ge=1, le=1000)
    max_active_chunks: StrictInt = Field(4, ge=1, le=64)
    destination: str = Field(min_length=1)
    upload_mode: Literal["pull", "push"] = "pull"
    budget: Budget | None = None
    allow_failures: int | float = 0
    deferrable: StrictBool = True
    wait: Wait = Field(default_factory=Wait)
    contact_sheet: ContactSheet = Field(default_factory=ContactSheet)

    @field_validator("name")
    @classmethod
    def _dag_id(cls, value: str) -> str:
        if not _DAG_ID.match(value):
            raise ValueError(
                f"{value!r} cannot be a DAG id: 1 to 250 letters, digits, '_', '.' or '-'"
            )
        return value

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        if isinstance(value, str):
            check_schedule(value)
            return value.strip()
        if isinstance(value, Mapping):
            try:
                return TimetableSchedule.model_validate(value)
            except ValidationError as error:
                reasons = "; ".join(
                    f"{format_path(tuple(e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                    for e in error.errors(include_url=False)
                )
                raise ValueError(reasons) from None
        if value is not None and not isinstance(value, TimetableSchedule):
            raise ValueError(
                "write a cron expression, a preset (@daily), a timetable class path, "
                "{timetable: package.module.Class, arguments: {...}}, or null"
            )
        return value

    @field_validator("start_date", mode="before")
    @classmethod
    def _start(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            raise ValueError("write a date (2026-01-31); the time of day comes from 'schedule'")
        return value

    @field_validator("catchup")
    @classmethod
    def _catchup(cls, value: bool, info: ValidationInfo) -> bool:
        if value and "start_date" in info.data and info.data["start_date"] is None:
            raise ValueError("true needs a start_date (the first date to catch up from)")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Paris)") from None
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        long = [tag for tag in value if len(tag) > 100]
        if long:
            raise ValueError(f"tags are at most 100 characters: {long[0]!r}")
        return value

    @field_validator("allow_failures", mode="before")
    @classmethod
    def _failures(cls, value: Any) -> int | float:
        return parse_failure_policy(value)

    @field_validator("variants")
    @classmethod
    def _unique_variants(cls, value: list[Variant]) -> list[Variant]:
        names = [variant.name for variant in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"variant names must be unique: {twice} used more than once")
        return value

    @property
    def images_per_request(self) -> int:
        """Images each request produces."""
        return self.generation.number_results


def parse_failure_policy(value: Any) -> int | float:
    """``allow_failures``: a count (``3``), a share below 1 (``0.05``) or a percentage (``"5%"``).

    :raises ValueError: for anything else.
    """
    if isinstance(value, bool):
        raise ValueError("write a count (3), a share (0.05) or a percentage ('5%'), not a boolean")
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            share = float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage") from None
        if not 0 <= share < 1:
            raise ValueError(f"{value!r}: a percentage is between 0% and 100% (excluded)")
        return share
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and 0 <= value < 1:
        return value
    raise ValueError(
        f"{value!r}: write a count of failed requests (3), a share below 1 (0.05) "
        "or a percentage ('5%')"
    )


def check_schedule(value: str) -> None:
    """Accept a preset (``@daily``), a cron expression or a timetable class path.

    :raises ValueError: naming what the value is not.
    """
    text = value.strip()
    if text.startswith("@"):
        if text not in _CRON_PRESETS:
            raise ValueError(
                f"{text!r} is not a preset; presets: {', '.join(sorted(_CRON_PRESETS))}"
            )
        return
    if " " not in text and "." in text:
        check_timetable_path(text)
        return
    from croniter import croniter

    if not croniter.is_valid(text):
        raise ValueError(
            f"{text!r} is not a cron expression (minute hour day month weekday), a preset "
            "(@daily) or a timetable class path (package.module.Class)"
        )


def check_timetable_path(path: str) -> None:
    """The dotted path must name an importable class (importing has no network cost)."""
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise ValueError(f"{path!r}: a timetable is named package.module.Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import the timetable module {module_name!r}: {error}") from None
    if not isinstance(getattr(module, class_name, None), type):
        raise ValueError(f"{module_name!r} has no class {class_name!r}")


# --- errors -> problems -------------------------------------------------------------------


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes an annotation may hold (through Optional, list, dict, Annotated)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin is None:
        return [annotation] if isinstance(annotation, type) else []
    found: list[Any] = []
    for arg in get_args(annotation):
        found += _unwrap(arg)
    return found


def _model_at(path: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that the mapping at *path* is validated by (for "did you mean")."""
    model: type[BaseModel] | None = Campaign
    for part in path:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        models = [m for m in _unwrap(info.annotation) if issubclass(m, BaseModel)]
        model = models[0] if models else None
    return model


def _clean_loc(loc: Sequence[str | int], located: LocatedYAML) -> KeyPath:
    """Drop pydantic's internal loc parts (union tags, validator names) from an error loc."""
    path: list[str | int] = []
    for part in loc:
        if isinstance(part, int) or located.has((*path, part)):
            path.append(part)
            continue
        model = _model_at(path)
        if model is not None and part in model.model_fields:
            path.append(part)
    return tuple(path)


def _message(error: ErrorDetails, path: KeyPath) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(path[:-1])
        allowed = sorted(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1)
        if close:
            return f"unknown key; did you mean {close[0]!r}?"
        return f"unknown key; keys here: {', '.join(allowed)}" if allowed else "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if "input" in error and kind not in ("value_error", "assertion_error"):
        shown = repr(error["input"])
        message += f" (got {shown[:60]}{'...' if len(shown) > 60 else ''})"
    return message


def problems_from(error: ValidationError, located: LocatedYAML, file: str) -> list[Problem]:
    """Each pydantic error as a problem with the file, the line and the dotted key."""
    problems = []
    for detail in error.errors(include_url=False):
        path = _clean_loc(detail["loc"], located)
        problems.append(
            Problem(file, located.line_of(path), format_path(path), _message(detail, path))
        )
    return problems


def validate_campaign(
    located: LocatedYAML, file: str, *, defaults: Mapping[str, Any] | None = None
) -> tuple[Campaign | None, list[Problem]]:
    """The campaign of a parsed file, or the problems that prevent it.

    :param defaults: keys that apply when the file does not set them (merged key by key).
    """
    if located.problems and located.data is None:
        return None, list(located.problems)
    data = located.data
    if not isinstance(data, Mapping):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        return None, [
            Problem(
                file, 1, "", f"a campaign file is a mapping of keys (name, prompt...), not {kind}"
            )
        ]
    merged = deep_merge(defaults or {}, data)
    try:
        campaign = Campaign.model_validate(merged)
    except ValidationError as error:
        found = [*located.problems, *problems_from(error, located, file)]
        return None, sorted(found, key=lambda problem: problem.line or 0)
    return (campaign if not located.problems else None), list(located.problems)
