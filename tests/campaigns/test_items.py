"""Items from inline lists, CSV and JSON Lines files, each with a usable, unique key, every
problem named where it is written."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_wan.campaigns.items import (
    collect,
    csv_rows,
    jsonl_rows,
    key_problem,
    parse_items,
)
from airflow_provider_wan.campaigns.spec import KEY_PATTERN
from airflow_provider_wan.storage import DestinationTemplate, ImageName

keys = st.from_regex(KEY_PATTERN, fullmatch=True)


@given(keys, st.integers(0, 19))
def test_a_usable_key_names_a_valid_object(key: str, index: int) -> None:
    assert key_problem(key) is None
    uri = DestinationTemplate("gs://bucket/run/{item_key}-{index}.{ext}").render(
        ImageName(key, index, "webp")
    )
    assert str(uri) == f"gs://bucket/run/{key}-{index}.webp"


@given(st.text(min_size=1, max_size=40).filter(lambda text: not KEY_PATTERN.match(text)))
def test_an_unusable_key_is_refused_with_the_rule(text: str) -> None:
    assert "is not a usable key" in (key_problem(text) or "")


@given(st.lists(keys, min_size=1, max_size=30))
def test_duplicates_are_reported_at_their_line_and_the_rest_are_kept(values: list[str]) -> None:
    rows = [(line, {"sku": value}) for line, value in enumerate(values, start=2)]
    found = collect(rows, "sku", "items.csv")
    assert [item.key for item in found.items] == list(dict.fromkeys(values))
    assert len(found.problems) == len(values) - len(set(values))
    for problem in found.problems:
        assert problem.file == "items.csv" and problem.key == "sku"
        assert "duplicate item key" in problem.message


@pytest.mark.parametrize(
    ("value", "message"), [(1.5, "not float"), (True, "not bool"), (["a"], "not list")]
)
def test_a_key_must_be_text_or_a_whole_number(value: object, message: str) -> None:
    assert message in (key_problem(value) or "")
    assert key_problem(42) is None


def test_csv_rows_carry_their_line_even_with_quoted_newlines_and_blank_lines() -> None:
    text = 'sku,name\r\nA-1,"kettle,\nred"\r\n\r\nA-2,mug\r\n'
    rows, problems = csv_rows(text, "p.csv")
    assert problems == []
    assert rows == [(2, {"sku": "A-1", "name": "kettle,\nred"}), (5, {"sku": "A-2", "name": "mug"})]


def test_a_csv_with_a_bad_header_is_refused_at_line_1() -> None:
    rows, problems = csv_rows("sku,name,sku\n1,2,3\n", "p.csv")
    assert rows == [] and problems[0].line == 1 and "unique" in problems[0].message


def test_jsonl_problems_name_the_line() -> None:
    rows, problems = jsonl_rows('{"sku": "a"}\n\nnot json\n[1, 2]\n{"sku": "b"}\n', "p.jsonl")
    assert [line for line, _ in rows] == [1, 5]
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [
        (3, "not JSON"),
        (4, "each line must be a JSON object"),
    ]


def test_items_bytes_must_be_utf8() -> None:
    found = parse_items(b"sku\n\xff\n", "csv", "p.csv", "sku")
    assert found.items == [] and "not UTF-8" in found.problems[0].message


def test_a_byte_order_mark_is_not_part_of_the_first_column() -> None:
    found = parse_items("\ufeffsku,name\nA-1,kettle\n".encode(), "csv", "p.csv", "sku")
    assert [item.key for item in found.items] == ["A-1"]
