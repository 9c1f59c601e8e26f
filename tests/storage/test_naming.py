"""Destination templates: field validation, rendering, and collisions found before submission."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_wan.storage.errors import InvalidDestinationError, NameCollisionError
from airflow_provider_wan.storage.naming import DestinationTemplate, ImageName, check_unique


def test_render_fills_every_field() -> None:
    template = DestinationTemplate(
        "gs://shop/cat/2025-01-31/{item_key}/{index:03d}-{seed}-{task_uuid}-{image_uuid}.{ext}"
    )
    uri = template.render(
        ImageName(item_key="sku-1", index=2, ext="png", task_uuid="t", image_uuid="i", seed=7)
    )
    assert str(uri) == "gs://shop/cat/2025-01-31/sku-1/002-7-t-i.png"
    assert str(template.base_uri) == "gs://shop/cat/2025-01-31/"
    assert template.scheme == "gs"


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("gs://bkt/{colour}.{ext}", r"unknown field \{colour\}"),
        ("gs://bkt/{}.{ext}", "positional"),
        ("gs://bkt/{0}.{ext}", "positional"),
        ("gs://bkt/{item_key!r}.{ext}", "conversion"),
        ("gs://bkt/{item_key.upper}.{ext}", "unknown field"),
        ("gs://bkt/{item_key[0]}.{ext}", "unknown field"),
        ("gs://bkt/{index:{ext}x}.png", "nested"),
        ("gs://bkt/{{ ds }}/{item_key}.{ext}", "unrendered Jinja"),
        ("gs://{item_key}/x.{ext}", "scheme and bucket must be literal"),
        ("gs://bucket-{item_key}/x.{ext}", "scheme and bucket must be literal"),
        ("{item_key}.{ext}", "scheme and bucket must be literal"),
        ("gs://bkt/{item_key", "malformed braces"),
        ("https://b/{item_key}.{ext}", "unsupported scheme"),
        ("gs://bkt//{item_key}.{ext}", "empty path segment"),
        ("", "non-empty"),
    ],
)
def test_bad_templates_are_refused_with_the_reason(template: str, says: str) -> None:
    with pytest.raises(InvalidDestinationError, match=says):
        DestinationTemplate(template)


def test_an_item_key_that_breaks_the_uri_rules_names_the_item() -> None:
    template = DestinationTemplate("file:///out/{item_key}.{ext}")
    with pytest.raises(InvalidDestinationError, match=r"item '\.\./etc/passwd' image 0"):
        template.render(ImageName(item_key="../etc/passwd", index=0, ext="jpg"))


def test_fields_known_only_after_generation_cannot_render_before_it() -> None:
    template = DestinationTemplate("s3://bkt/{item_key}-{image_uuid}.{ext}")
    assert not template.known_before_submission
    with pytest.raises(InvalidDestinationError, match="push mode"):
        template.render(ImageName(item_key="a", index=0, ext="jpg"))
    assert DestinationTemplate("s3://bkt/{item_key}-{task_uuid}.{ext}").known_before_submission


def test_collision_names_both_items_and_the_shared_name() -> None:
    template = DestinationTemplate("gs://bkt/p/{item_key}.{ext}")
    planned = [
        ImageName("shoe", 0, "jpg"),
        ImageName("hat", 0, "jpg"),
        ImageName("shoe", 1, "jpg"),
    ]
    with pytest.raises(NameCollisionError) as caught:
        check_unique(template, planned)
    error = caught.value
    assert error.first == "item 'shoe' image 0"
    assert error.second == "item 'shoe' image 1"
    assert "gs://bkt/p/shoe.jpg" in str(error)
    assert "{index}" in str(error)


def test_seed_does_not_make_names_unique() -> None:
    template = DestinationTemplate("gs://bkt/{item_key}-{seed}.{ext}")
    with pytest.raises(NameCollisionError):
        check_unique(template, [ImageName("a", 0, "jpg"), ImageName("a", 1, "jpg")])


def test_image_uuid_makes_names_unique_by_construction() -> None:
    template = DestinationTemplate("gs://bkt/{image_uuid}.{ext}")
    assert template.unique_by_construction
    planned = check_unique(template, [ImageName("a", 0, "jpg")] * 50)
    assert len(planned) == 50


def test_the_manifest_name_is_reserved() -> None:
    template = DestinationTemplate("gs://bkt/out/{item_key}.{ext}")
    with pytest.raises(NameCollisionError, match="manifest"):
        check_unique(template, [ImageName("_manifests/run-1", 0, "jsonl")], run_id="run-1")


def test_manifest_uri_sits_next_to_the_images() -> None:
    template = DestinationTemplate("s3://bkt/cat/2025-01-31/{item_key}-{index}.{ext}")
    manifest = template.manifest_uri("scheduled__2025-01-31T00:00:00+00:00")
    assert str(manifest).startswith("s3://bkt/cat/2025-01-31/_manifests/scheduled__2025-01-31T00")
    assert str(manifest).endswith(".jsonl")


_keys = st.text(alphabet="abcdefghij-_0123456789", min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_keys, st.integers(0, 3)), min_size=1, max_size=400))
def test_check_unique_fails_exactly_when_two_images_share_item_and_index(
    pairs: list[tuple[str, int]],
) -> None:
    template = DestinationTemplate("file:///out/{item_key}/{index}.{ext}")
    planned = [ImageName(key, index, "png") for key, index in pairs]
    if len(set(pairs)) == len(pairs):
        assert len(check_unique(template, planned)) == len(pairs)
    else:
        with pytest.raises(NameCollisionError) as caught:
            check_unique(template, planned)
        first, second = caught.value.first, caught.value.second
        assert first == second  # same item and index: both descriptions are identical


@settings(max_examples=60, deadline=None)
@given(st.lists(_keys, min_size=1, max_size=2000))
def test_without_index_two_images_of_one_item_or_equal_keys_collide(keys: list[str]) -> None:
    template = DestinationTemplate("s3://bucket/{item_key}.{ext}")
    planned = [ImageName(key, 0, "webp") for key in keys]
    duplicates = len(set(keys)) != len(keys)
    if duplicates:
        with pytest.raises(NameCollisionError) as caught:
            check_unique(template, planned)
        assert caught.value.first.split(" image")[0] == caught.value.second.split(" image")[0]
    else:
        check_unique(template, planned)
