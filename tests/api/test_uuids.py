"""Task UUIDs derived from where a task comes from: stable, distinct, valid version 4."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_wan.api import derive_task_uuid

parts = st.lists(st.one_of(st.text(max_size=20), st.integers()), min_size=1, max_size=6)


@given(parts)
def test_the_same_parts_give_the_same_valid_v4_uuid(values: list[object]) -> None:
    first = derive_task_uuid(*values)
    assert first == derive_task_uuid(*values)
    parsed = uuid.UUID(first)
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122


@given(parts, parts)
def test_different_parts_give_different_uuids(a: list[object], b: list[object]) -> None:
    if [str(x) for x in a] != [str(x) for x in b]:
        assert derive_task_uuid(*a) != derive_task_uuid(*b)


def test_joining_is_unambiguous() -> None:
    assert derive_task_uuid("ab", "c") != derive_task_uuid("a", "bc")
    assert derive_task_uuid("dag", "run", "task", -1, 0) != derive_task_uuid(
        "dag", "run", "task", -1, 1
    )
