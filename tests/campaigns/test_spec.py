"""The campaign spec: defaults, shorthands, schedules and policies, and pydantic errors mapped
back to the YAML line and the dotted key."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_wan.campaigns.spec import Campaign, parse_failure_policy, validate_campaign
from airflow_provider_wan.campaigns.yaml_source import format_path, parse_yaml

BASE = {
    "name": "c",
    "prompt": "p",
    "items": {"key": "k", "inline": [{"k": "a"}]},
    "destination": "gs://b/{item_key}.{ext}",
}


def problems_of(text: str) -> list[str]:
    located = parse_yaml(textwrap.dedent(text), "c.yaml")
    _, problems = validate_campaign(located, "c.yaml")
    return [str(problem) for problem in problems]


def test_defaults_are_those_of_a_reproducible_campaign() -> None:
    campaign = Campaign.model_validate(BASE)
    assert campaign.generation.prompt_extend is False
    assert campaign.generation.size == (1024, 1024)
    assert campaign.connections.runware == "runware_default"
    assert campaign.connections.gcp == "google_cloud_default"
    assert campaign.connections.aws == "aws_default"
    assert campaign.schedule is None and campaign.catchup is False
    assert campaign.budget is None and campaign.allow_failures == 0


def test_shorthands() -> None:
    campaign = Campaign.model_validate(
        {**BASE, "budget": 5, "contact_sheet": False, "allow_failures": "5%"}
    )
    assert campaign.budget is not None
    assert (campaign.budget.limit_usd, campaign.budget.cost_per_image_usd) == (5, 0.03)
    assert campaign.contact_sheet.enabled is False
    assert campaign.allow_failures == pytest.approx(0.05)


@pytest.mark.parametrize(
    "schedule",
    [
        "@daily",
        "@weekly",
        "@once",
        "0 2 * * *",
        "*/15 * * * 1-5",
        "airflow.timetables.simple.NullTimetable",
    ],
)
def test_schedules_that_airflow_accepts(schedule: str) -> None:
    assert Campaign.model_validate({**BASE, "schedule": schedule}).schedule == schedule


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("@fortnightly", "is not a preset"),
        ("0 2 * *", "is not a cron expression"),
        ("nowhere.Timetable", "cannot import the timetable module"),
        ({"timetable": "airflow.timetables.simple.Nope"}, "has no class 'Nope'"),
        (7, "write a cron expression"),
    ],
)
def test_schedules_that_airflow_refuses(schedule: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Campaign.model_validate({**BASE, "schedule": schedule})


@given(st.integers(0, 10_000))
def test_a_failure_count_is_a_count(count: int) -> None:
    assert parse_failure_policy(count) == count


@given(st.floats(0, 0.999))
def test_a_failure_share_is_a_share(share: float) -> None:
    assert parse_failure_policy(share) == share


@pytest.mark.parametrize("value", [True, -1, 1.5, "100%", "x%", "lots"])
def test_other_failure_policies_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        parse_failure_policy(value)


def test_errors_name_the_line_and_dotted_key_of_nested_and_listed_values() -> None:
    problems = problems_of(
        """\
        name: c
        prompt: p
        generation:
          output_quality: 5
          safety: {check_content: maybe}
        items:
          key: k
          inline:
            - {k: a}
            - just text
        destination: gs://b/{item_key}.{ext}
        wait:
          poll_interval_seconds: 10
          max_poll_interval_seconds: 1
        catchup: true
        """
    )
    assert problems == [
        "c.yaml:4: generation.output_quality: Input should be greater than or equal to 20 (got 5)",
        "c.yaml:5: generation.safety.check_content: Input should be a valid boolean (got 'maybe')",
        "c.yaml:10: items.inline[1]: Input should be a valid dictionary (got 'just text')",
        "c.yaml:12: wait: max_poll_interval_seconds must not be below poll_interval_seconds",
        "c.yaml:15: catchup: true needs a start_date (the first date to catch up from)",
    ]


def test_a_file_that_is_not_a_mapping() -> None:
    assert problems_of("- a\n- b\n") == [
        "c.yaml:1: a campaign file is a mapping of keys (name, prompt...), not a list"
    ]


def test_paths_read_as_written() -> None:
    assert format_path(("items", "inline", 3, "sku")) == "items.inline[3].sku"
    assert format_path(()) == ""
