"""Keep credentials out of messages: presigned URLs, webhook tokens and API keys."""

from __future__ import annotations

import re
from collections.abc import Iterable

_URL_QUERY = re.compile(r"(?P<base>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'?#<>]+)\?[^\s\"'<>]*")
_DEFAULT_LIMIT = 80


def redact_url(url: str) -> str:
    """Return *url* without its query string, which is where signatures and tokens live."""
    base, sep, _ = url.partition("?")
    return f"{base}?<redacted>" if sep else base


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Strip URL query strings and every given secret from free text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _URL_QUERY.sub(lambda m: f"{m.group('base')}?<redacted>", text)


def shorten(text: str, limit: int = _DEFAULT_LIMIT) -> str:
    """Cut *text* to about *limit* characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text):,} characters)"
