"""Credentials never survive into text: presigned URLs, signatures, inline data."""

from __future__ import annotations

import pickle
from datetime import datetime, timezone

import pytest

from airflow_provider_wan.api.redaction import redact_text, redact_url
from airflow_provider_wan.storage.base import PresignedURL
from airflow_provider_wan.storage.errors import StorageError

SIGNED = (
    "https://bucket.s3.amazonaws.com/a/b.png?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20250101&X-Amz-Signature=deadbeefcafe"
)


def test_redact_url_drops_query_fragment_and_user_info() -> None:
    assert redact_url(SIGNED) == "https://bucket.s3.amazonaws.com/a/b.png?<redacted>"
    assert redact_url("https://user:pw@host/x#frag") == "https://host/x?<redacted>"
    assert redact_url("gs://bucket/a.png") == "gs://bucket/a.png"


def test_redact_url_shortens_data_uris() -> None:
    assert redact_url("data:image/png;base64," + "A" * 1000) == "data:image/png;<1,000 characters>"


def test_redact_text_finds_urls_and_loose_signatures() -> None:
    text = f"PUT {SIGNED} failed; retry with X-Goog-Signature=abc123&foo=1 later"
    redacted = redact_text(text)
    assert "deadbeefcafe" not in redacted
    assert "AKIAEXAMPLE" not in redacted
    assert "abc123" not in redacted
    assert "https://bucket.s3.amazonaws.com/a/b.png?<redacted>" in redacted


def test_storage_errors_redact_their_message_and_uri() -> None:
    error = StorageError(f"could not reach {SIGNED}", uri=SIGNED)
    assert "deadbeefcafe" not in str(error)
    assert "deadbeefcafe" not in repr(error)
    assert error.uri == "https://bucket.s3.amazonaws.com/a/b.png?<redacted>"


def test_presigned_url_hides_itself_and_refuses_serialization() -> None:
    url = PresignedURL(SIGNED, uri="s3://bucket/a/b.png", expires_at=datetime.now(timezone.utc))
    assert url.reveal() == SIGNED
    shown_forms = (str(url), repr(url), f"{url}", f"{url!r}", "{}".format(url))  # noqa: UP032
    for shown in shown_forms:
        assert "deadbeefcafe" not in shown
    with pytest.raises(TypeError, match="credential"):
        pickle.dumps(url)
