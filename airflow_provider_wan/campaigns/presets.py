"""Named image sizes that satisfy the Wan2.6 size rule, and the ``size`` value of a campaign.

A campaign writes its size as a preset name (``square``), as ``WIDTHxHEIGHT`` (``2700x768``) or
as a mapping (``{width: 2700, height: 768}``). Every preset is checked against the API's own
rule (:func:`airflow_provider_wan.api.size_problem`) by the tests: between 589,824 and 2,073,600
pixels, aspect ratio between 1:4 and 4:1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from airflow_provider_wan.api.inference import describe_size_rule, size_problem

SIZE_PRESETS: Final[Mapping[str, tuple[int, int]]] = {
    # name: (width, height)
    "square": (1024, 1024),
    "square_hd": (1440, 1440),
    "landscape_4_3": (1280, 960),
    "portrait_3_4": (960, 1280),
    "landscape_3_2": (1344, 896),
    "portrait_2_3": (896, 1344),
    "portrait_4_5": (1024, 1280),
    "landscape_16_9": (1920, 1080),
    "portrait_9_16": (1080, 1920),
    "landscape_21_9": (2016, 864),
    "banner_3_5_1": (2688, 768),
    "banner_4_1": (2880, 720),
    "skyscraper_1_4": (720, 2880),
}
"""Every preset, with its size in pixels."""

_WXH = re.compile(r"^\s*(\d{2,5})\s*[xX]\s*(\d{2,5})\s*$")


def preset_names() -> str:
    """The preset names, comma-separated, for messages."""
    return ", ".join(SIZE_PRESETS)


def _pixels(size: Mapping[str, Any], name: str) -> int:
    number = size.get(name)
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValueError(f"{name} must be a whole number of pixels, not {number!r}")
    return number


def parse_size(value: Any) -> tuple[int, int]:
    """A campaign's ``size`` as (width, height), checked against the size rule.

    :raises ValueError: naming what was expected (a preset, ``WIDTHxHEIGHT``, or a mapping with
        integer ``width`` and ``height``) or the broken rule.
    """
    if isinstance(value, str):
        name = value.strip()
        if name in SIZE_PRESETS:
            return SIZE_PRESETS[name]
        match = _WXH.match(name)
        if not match:
            raise ValueError(
                f"{value!r} is neither a size preset nor WIDTHxHEIGHT; presets: {preset_names()}"
            )
        width, height = int(match.group(1)), int(match.group(2))
    elif isinstance(value, Mapping):
        unknown = sorted(str(key) for key in value if key not in ("width", "height"))
        if unknown:
            raise ValueError(f"a size mapping has only width and height, not {unknown}")
        width, height = _pixels(value, "width"), _pixels(value, "height")
    else:
        raise ValueError(
            f"{value!r} is not a size: write a preset ({preset_names()}), WIDTHxHEIGHT, "
            "or {width: ..., height: ...}"
        )
    problem = size_problem(width, height)
    if problem:
        raise ValueError(f"{width}x{height}: {problem}")
    return width, height


__all__ = ["SIZE_PRESETS", "describe_size_rule", "parse_size", "preset_names"]
