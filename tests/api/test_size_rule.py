"""The accepted sizes are exactly the region of the Wan 2.6 rule (property test)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_wan.api import (
    ImageInference,
    InvalidRequestError,
    parse_inference,
    size_problem,
)

sides = st.integers(min_value=1, max_value=6000)


def in_region(width: int, height: int) -> bool:
    # The rule restated independently: 576*1024 <= area <= 1440*1440 and 1:4 <= w/h <= 4:1.
    return 589_824 <= width * height <= 2_073_600 and 1 / 4 <= width / height <= 4


@given(sides, sides)
def test_a_size_is_accepted_exactly_when_it_is_in_the_region(width: int, height: int) -> None:
    assert (size_problem(width, height) is None) == in_region(width, height)
    request = {"positivePrompt": "x", "width": width, "height": height}
    try:
        task = parse_inference(request)
    except InvalidRequestError as error:
        assert not in_region(width, height)
        assert error.problems[0].field == "width, height"
    else:
        assert in_region(width, height)
        assert isinstance(task, ImageInference)


@given(st.integers(min_value=256, max_value=1440))
def test_the_boundaries_are_inclusive(side: int) -> None:
    # Along the 4:1 edge and at the area bounds, the rule includes its limits.
    assert (size_problem(4 * side, side) is None) == (589_824 <= 4 * side * side <= 2_073_600)


def test_the_largest_and_smallest_documented_areas() -> None:
    assert size_problem(2700, 768) is None  # exactly the largest area allowed
    assert size_problem(1440, 1440) is None
    assert size_problem(576, 1024) is None
    assert size_problem(576, 1023) is not None
    assert size_problem(2701, 768) is not None
