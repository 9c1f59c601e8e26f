"""Every size preset satisfies the Wan2.6 size rule, and a campaign accepts exactly the sizes
the API accepts, however they are written."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_wan.api import size_problem
from airflow_provider_wan.campaigns.presets import SIZE_PRESETS, parse_size


@pytest.mark.parametrize(("name", "size"), sorted(SIZE_PRESETS.items()))
def test_every_preset_satisfies_the_size_rule(name: str, size: tuple[int, int]) -> None:
    assert size_problem(*size) is None, name
    assert parse_size(name) == size


def test_the_named_presets_have_the_shape_their_name_says() -> None:
    for name, (width, height) in SIZE_PRESETS.items():
        parts = name.split("_")[1:]
        if len(parts) >= 2 and all(p.isdigit() for p in parts[-2:]):
            a, b = (
                (float(parts[-2]), float(parts[-1]))
                if len(parts) == 2
                else (float(".".join(parts[:2])), float(parts[2]))
            )
            assert width / height == pytest.approx(a / b, rel=0.02), name
    assert SIZE_PRESETS["banner_3_5_1"] == (2688, 768)


@given(st.integers(10, 99_999), st.integers(10, 99_999))
def test_a_size_is_accepted_exactly_when_the_api_accepts_it(width: int, height: int) -> None:
    rule = size_problem(width, height)
    for written in (f"{width}x{height}", {"width": width, "height": height}):
        if rule is None:
            assert parse_size(written) == (width, height)
        else:
            with pytest.raises(ValueError, match="width x height must be between"):
                parse_size(written)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("huge", "neither a size preset nor WIDTHxHEIGHT"),
        ({"width": 1024}, "height must be a whole number"),
        ({"width": 1024.0, "height": 1024}, "width must be a whole number"),
        ({"width": 1024, "height": 1024, "depth": 3}, "only width and height"),
        (1024, "is not a size"),
    ],
)
def test_a_size_that_is_not_a_size_says_what_was_expected(written: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(written)
