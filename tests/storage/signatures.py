"""Independent checks of presigned URLs, since neither moto nor the GCS emulator verifies them.

Each function recomputes the signature from the URL alone (AWS SigV4 query auth with the
secret key; GCS V4 with the service account's public key), following the providers' published
canonical-request rules, and raises AssertionError when it does not match.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, quote, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def _canonical(url: str, signature_param: str) -> tuple[str, dict[str, str], str]:
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    signature = params.pop(signature_param)
    query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items())
    )
    signed_headers = params.get("X-Amz-SignedHeaders") or params.get("X-Goog-SignedHeaders")
    assert signed_headers == "host", f"signed headers are {signed_headers!r}, expected host only"
    canonical = "\n".join(
        ["PUT", parts.path, query, f"host:{parts.netloc}", "", "host", "UNSIGNED-PAYLOAD"]
    )
    return canonical, params, signature


def verify_s3_presigned_put(url: str, *, secret_key: str) -> dict[str, str]:
    """Check a SigV4 presigned PUT URL; return its (unsigned) parameters."""
    canonical, params, signature = _canonical(url, "X-Amz-Signature")
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    _, date, region, service, terminator = params["X-Amz-Credential"].split("/")
    scope = f"{date}/{region}/{service}/{terminator}"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, signature), "SigV4 signature does not verify"
    return params


def verify_gcs_signed_put(url: str, *, public_key_pem: bytes) -> dict[str, str]:
    """Check a GCS V4 signed PUT URL with the signer's public key; return its parameters."""
    canonical, params, signature = _canonical(url, "X-Goog-Signature")
    assert params["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    _, scope = params["X-Goog-Credential"].split("/", 1)
    to_sign = "\n".join(
        [
            "GOOG4-RSA-SHA256",
            params["X-Goog-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    public_key = serialization.load_pem_public_key(public_key_pem)
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(
        bytes.fromhex(signature), to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    return params
