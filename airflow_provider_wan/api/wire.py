"""The base of every wire model: camelCase wire names as aliases, Pythonic names in code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


def _reject_bool(value: Any) -> Any:
    # pydantic's lax mode reads True as 1; on this wire a boolean where a number belongs is a bug.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


WireInt = Annotated[int, BeforeValidator(_reject_bool)]
"""An integer that also accepts numeric strings (templated values) but never a boolean."""


class RequestModel(BaseModel):
    """A model the client sends: strict about unknown keys, silent about secrets in errors."""

    model_config = ConfigDict(
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        hide_input_in_errors=True,
        validate_assignment=True,
        frozen=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON object as Runware expects it: wire names, only the fields that were set."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class ResponseModel(BaseModel):
    """A model the client reads: tolerant of keys the API adds later."""

    model_config = ConfigDict(
        extra="allow",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        hide_input_in_errors=True,
    )


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """*override* over *base*, nested mappings merged key by key (request defaults, presets)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
