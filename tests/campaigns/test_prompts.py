"""Prompt templates: a missing field is an error naming it, item data cannot reach Python
internals, and a YAML block reads as one line."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_wan.campaigns.prompts import (
    PromptError,
    compile_template,
    context_for,
    render,
)
from airflow_provider_wan.campaigns.rendering import run_fields

RUN = run_fields(logical_date=datetime(2026, 6, 1, tzinfo=timezone.utc), run_id="r", dag_id="d")


def test_a_template_reads_item_fields_run_fields_and_variant_fields() -> None:
    context = context_for(
        {"name": "kettle", "ds": "not the run's"}, RUN, {"name": "studio", "light": "flash"}
    )
    text = render(
        "{{ name }} / {{ item.ds }} / {{ ds }} / {{ variant.name }} {{ variant.light }}", context
    )
    assert text == "kettle / not the run's / 2026-06-01 / studio flash"


def test_a_missing_field_names_the_field() -> None:
    with pytest.raises(PromptError) as raised:
        render("a {{ colour }} kettle", context_for({"color": "red"}, RUN))
    assert raised.value.field == "colour"
    assert str(raised.value) == "uses 'colour', which this item does not have"
    with pytest.raises(PromptError) as raised:
        render("a {{ item.colour }} kettle", context_for({"color": "red"}, RUN))
    assert raised.value.field == "colour"


def test_item_data_cannot_reach_python_internals() -> None:
    with pytest.raises(PromptError, match=r"SecurityError|unsafe"):
        render("{{ name.__class__.__mro__[1].__subclasses__() }}", context_for({"name": "x"}, RUN))


def test_whitespace_of_a_yaml_block_collapses() -> None:
    assert render("one\n  two\n\nthree ", context_for({}, RUN)) == "one two three"


def test_the_run_date_can_drive_the_template() -> None:
    source = '{% set s = {6: "summer"}.get(logical_date.month, "other") %}{{ s | capitalize }}'
    assert render(source, context_for({}, RUN)) == "Summer"


def test_syntax_errors_give_the_template_line() -> None:
    with pytest.raises(PromptError) as raised:
        compile_template("fine\n{{ broken }")
    assert raised.value.line == 2 and str(raised.value).startswith("Jinja syntax:")
    assert compile_template("{{ a }} {{ b.c }} {% for x in d %}{{ x }}{% endfor %}").names == {
        "a",
        "b",
        "d",
    }
