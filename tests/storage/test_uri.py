"""Destination URIs: what parses, what is refused and why."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_wan.storage.errors import InvalidDestinationError
from airflow_provider_wan.storage.uri import StorageURI, parse_uri


@pytest.mark.parametrize(
    ("text", "scheme", "bucket", "key"),
    [
        ("gs://shop-media/catalog/a.jpg", "gs", "shop-media", "catalog/a.jpg"),
        ("s3://shop.media/a b/c.png", "s3", "shop.media", "a b/c.png"),
        ("file:///tmp/out/x.webp", "file", "", "tmp/out/x.webp"),
        ("file://localhost/tmp/x.webp", "file", "", "tmp/x.webp"),
        ("gs://bucket_1/", "gs", "bucket_1", ""),
        ("gs://bucket/%20literal", "gs", "bucket", "%20literal"),
    ],
)
def test_valid_uris_parse_into_their_parts(text: str, scheme: str, bucket: str, key: str) -> None:
    uri = parse_uri(text)
    assert (uri.scheme, uri.bucket, uri.key) == (scheme, bucket, key)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("https://example.com/a.jpg", "unsupported scheme"),
        ("gs:/bucket/a", "not a URI"),
        ("gs://Bucket/a", "bucket name"),
        ("s3://under_score/a", "bucket name"),
        ("s3://192.168.1.1/a", "bucket name"),
        ("gs://ab/a", "bucket name"),
        ("gs://bucket/a//b", "empty path segment"),
        ("gs://bucket/a/../b", "'..'"),
        ("gs://bucket/./b", "'.'"),
        ("file://host/tmp/x", "no host"),
        ("file:///", "absolute path"),
        ("gs://bucket/a?x=1", "query string"),
        ("gs://bucket/a#frag", "query string"),
        ("gs://bucket/a\nb", "control characters"),
        ("gs://bucket/" + "k" * 1025, "1024 bytes"),
    ],
)
def test_invalid_uris_are_refused_with_the_rule(text: str, says: str) -> None:
    with pytest.raises(InvalidDestinationError, match=says):
        parse_uri(text)


def test_a_prefix_is_not_an_object() -> None:
    with pytest.raises(InvalidDestinationError, match="prefix"):
        parse_uri("gs://bucket/folder/").require_object()


def test_parent_join_and_name() -> None:
    uri = parse_uri("s3://bucket/a/b/c.jpg")
    assert str(uri.parent) == "s3://bucket/a/b/"
    assert uri.name == "c.jpg"
    assert str(uri.parent.join("_manifests/r.jsonl")) == "s3://bucket/a/b/_manifests/r.jsonl"
    assert str(parse_uri("file:///tmp/x.png").path) == "/tmp/x.png"


_segment = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=["Cc", "Cs"], exclude_characters="/?#"
    ),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))


@given(
    scheme=st.sampled_from(["gs", "s3"]),
    bucket=st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True),
    segments=st.lists(_segment, min_size=1, max_size=5),
)
def test_str_and_parse_round_trip(scheme: str, bucket: str, segments: list[str]) -> None:
    uri = StorageURI(scheme, bucket, "/".join(segments))
    assert parse_uri(str(uri)) == uri
