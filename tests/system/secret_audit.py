"""Search what the Airflow stack wrote for credentials: the secret audit's machinery.

An :class:`Audit` is given the secrets to look for (exact values: the Runware API key, the AWS
secret key, the webhook token, each presigned URL's signature) and reads texts into it: files,
folders, the columns of a SQLite database, objects. Every text is also searched for a
signature-like query parameter (``X-Amz-Signature=...``, ``X-Amz-Credential=...``,
``X-Goog-Signature=...``, ``Signature=...``) whose value is not a redaction placeholder, so a
presigned URL of any backend is caught even when its signature is not among the known values.

Findings never repeat a secret: the excerpt shows where it was, with the value replaced.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

# name=value (or name%3Dvalue after %3F or %26: a URL inside a URL-encoded string) of the query
# parameters that carry a signature or a credential; a redacted value (<redacted>, ***) is not
# a leak.
SIGNATURE_PARAMETER = re.compile(
    r"(?i)(?:(?<![a-z0-9-])|(?<=%3f)|(?<=%26))"
    r"(x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature"
    r"|x-goog-credential|signature)"
    r"(?:=|%3d)(?!<redacted>|%3credacted|\*\*\*)[^&\s\"'<>\\]+"
)
_CONTEXT = 60


@dataclass(frozen=True)
class Secret:
    """A value that must appear nowhere; *what* names it in findings."""

    what: str
    value: str


@dataclass(frozen=True)
class Finding:
    source: str
    what: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.source}: {self.what}: ...{self.excerpt}..."


def presigned_signatures(url: str) -> dict[str, str]:
    """The signature-like query parameters of a presigned URL (name -> value)."""
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    names = ("X-Amz-Signature", "X-Goog-Signature", "Signature")
    return {name: query[name] for name in names if query.get(name)}


def scan_text(source: str, text: str, secrets: Iterable[Secret]) -> list[Finding]:
    """Every secret found in *text*, and the first signature-like query parameter."""
    secrets = list(secrets)
    findings = []
    for secret in secrets:
        at = text.find(secret.value)
        if at >= 0:
            findings.append(Finding(source, secret.what, _excerpt(text, at, secrets)))
    match = SIGNATURE_PARAMETER.search(text)
    if match:
        what = f"a {match.group(1)} query parameter"
        findings.append(Finding(source, what, _excerpt(text, match.start(), secrets)))
    return findings


def _excerpt(text: str, at: int, secrets: list[Secret]) -> str:
    excerpt = text[max(0, at - _CONTEXT) : at + 2 * _CONTEXT]
    for secret in secrets:
        excerpt = excerpt.replace(secret.value, f"<{secret.what}>")
    return " ".join(excerpt.split())


def as_text(value: object) -> str:
    """A database value as text: strings as they are, blobs decoded (and decompressed when
    they are zlib data, like ``serialized_dag.data_compressed``); numbers and NULL as ''."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        texts = [data.decode("utf-8", errors="replace")]
        with contextlib.suppress(zlib.error):
            texts.append(zlib.decompress(data).decode("utf-8", errors="replace"))
        return "\n".join(texts)
    return ""


def database_values(path: Path) -> dict[str, set[str]]:
    """Every non-empty text of every column of every table: ``table.column`` -> values.

    Read-only, through SQLite itself (so what a write-ahead log holds is seen too).
    """
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        names = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = [name for (name,) in names.fetchall()]
        values: dict[str, set[str]] = {}
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            columns = [description[0] for description in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    text = as_text(value)
                    if text:
                        values.setdefault(f"{table}.{column}", set()).add(text)
        return values
    finally:
        connection.close()


@dataclass
class DatabaseWatch:
    """Every value the database held at any of the snapshots taken during a run.

    Trigger rows are deleted once their task resumes, and a task's ``next_kwargs`` hold the
    trigger's event only until the task finishes: the database after the run is not enough.
    """

    path: Path
    values: dict[str, set[str]] = field(default_factory=dict)
    snapshots: int = 0

    def snapshot(self) -> bool:
        """Take one snapshot; False when the database was busy (try again later)."""
        try:
            taken = database_values(self.path)
        except sqlite3.OperationalError:
            return False
        for column, values in taken.items():
            self.values.setdefault(column, set()).update(values)
        self.snapshots += 1
        return True

    def final_snapshot(self, attempts: int = 20) -> None:
        for _ in range(attempts):
            if self.snapshot():
                return
            time.sleep(0.5)
        raise AssertionError(f"{self.path} stayed busy")

    def column(self, name: str) -> set[str]:
        return self.values.get(name, set())


@dataclass
class Audit:
    """Reads texts and records what they leak; ``sources`` lists everything read."""

    secrets: list[Secret]
    findings: list[Finding] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def text(self, source: str, text: str) -> None:
        self.sources.append(source)
        self.findings.extend(scan_text(source, text, self.secrets))

    def file(self, path: Path, source: str | None = None) -> None:
        self.text(source or str(path), path.read_bytes().decode("utf-8", errors="replace"))

    def tree(self, root: Path) -> list[Path]:
        """Every file under *root* (logs, the database's own bytes, anything else)."""
        files = sorted(path for path in root.rglob("*") if path.is_file())
        for path in files:
            self.file(path)
        return files

    def database(self, label: str, values: dict[str, set[str]]) -> None:
        """Every column's values, one source per ``table.column``."""
        for column in sorted(values):
            self.text(f"{label} {column}", "\n".join(sorted(values[column])))

    def report(self) -> str:
        return "\n".join(str(finding) for finding in self.findings)
