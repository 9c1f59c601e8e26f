"""Keep credentials out of messages: API keys, presigned URLs, signatures, user info, inline data.

A presigned URL is a credential: whoever holds it can write the object; a webhook URL carries
its token in the query string. Everything this project says about a URL or a response body
(log lines, exception text, reprs) goes through :func:`redact_url` or :func:`redact_text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

_REDACTED = "<redacted>"

# A URL in free text: scheme://anything-that-is-not-whitespace-or-a-quote.
_URL_IN_TEXT = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s\"'<>`]+")
# Signature-like query parameters, wherever they appear (a URL cut in half, a header dump).
_SIGNATURE_PARAM = re.compile(
    r"(?i)\b(x-(?:amz|goog)-(?:signature|credential|security-token)|signature|awsaccesskeyid"
    r"|googleaccessid|x-amz-security-token|sig|token|access_token)=[^&\s\"'<>]+"
)
# Inline images: data:image/png;base64,<megabytes>.
_DATA_URI = re.compile(r"(?i)\bdata:([a-z0-9.+/-]*)(;[a-z0-9=;-]*)?,[^\s\"'<>]*")


def redact_url(url: str) -> str:
    """Return *url* without the parts that can carry a credential.

    The query string and fragment (where signatures and tokens live) are replaced by
    ``?<redacted>``, user info (``user:password@``) is dropped, and a ``data:`` URI is cut to
    its media type and length.
    """
    if url[:5].lower() == "data:":
        return _shorten_data_uri(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return _REDACTED
    if not parts.scheme or not parts.netloc:
        base, sep, _ = url.partition("?")
        return f"{base}?{_REDACTED}" if sep else base
    host = parts.netloc.rpartition("@")[2]
    redacted = f"{parts.scheme}://{host}{parts.path}"
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        redacted += f"?{_REDACTED}"
    return redacted


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Redact every given secret, URL, data URI and signature-like parameter in free text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _DATA_URI.sub(lambda m: _shorten_data_uri(m.group(0)), text)
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    return _SIGNATURE_PARAM.sub(lambda m: f"{m.group(1)}={_REDACTED}", text)


def _shorten_data_uri(uri: str) -> str:
    header, _, payload = uri.partition(",")
    media_type = header[5:].split(";", 1)[0] or "application/octet-stream"
    return f"data:{media_type};<{len(payload):,} characters>"


_DEFAULT_LIMIT = 80


def shorten(text: str, limit: int = _DEFAULT_LIMIT) -> str:
    """Cut *text* to about *limit* characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text):,} characters)"
