"""Task UUIDs that are a pure function of where a task comes from.

A retry of the same Airflow task instance re-derives the same UUIDs, so the API answers
``conflictTaskUUID`` for what it already accepted instead of generating (and billing) again.
"""

from __future__ import annotations

import hashlib
import uuid

_NAMESPACE = b"airflow-provider-wan/task-uuid/v1"


def derive_task_uuid(*parts: object) -> str:
    """A UUID, formatted as version 4 (random) as the API requires, derived from *parts*.

    Equal parts give the same UUID; any difference in any part gives another one. Parts are
    joined unambiguously (length-prefixed), so ``("ab", "c")`` and ``("a", "bc")`` differ.
    """
    digest = hashlib.sha256(_NAMESPACE)
    for part in parts:
        encoded = str(part).encode()
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return str(uuid.UUID(bytes=digest.digest()[:16], version=4))
