"""The secret audit's search finds what is planted where it looks (no Airflow stack needed)."""

from __future__ import annotations

import json
import sqlite3
import zlib
from pathlib import Path

import pytest

from tests.system.secret_audit import (
    Audit,
    DatabaseWatch,
    Secret,
    presigned_signatures,
    scan_text,
)

SIGNATURE = "5f1c0ffee" * 7 + "a"
URL = (
    "http://127.0.0.1:9000/bucket/audit/kettle-0.png?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
    f"&X-Amz-Date=20260101T000000Z&X-Amz-Expires=21600&X-Amz-SignedHeaders=host"
    f"&X-Amz-Signature={SIGNATURE}"
)
SECRETS = [Secret("the signature", SIGNATURE), Secret("the key", "runware-key-123")]


def test_presigned_signatures_are_read_from_the_query() -> None:
    assert presigned_signatures(URL) == {"X-Amz-Signature": SIGNATURE}
    assert presigned_signatures("https://storage.example/o?X-Goog-Signature=abc") == {
        "X-Goog-Signature": "abc"
    }


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"PUT {URL} 200", {"the signature", "a X-Amz-Credential query parameter"}),
        ("Authorization: Bearer runware-key-123", {"the key"}),
        ("https://o.example/x?Signature=Zm9vYmFy&Expires=1", {"a Signature query parameter"}),
        (
            "https%3A%2F%2Fo%2Fx%3FX-Goog-Signature%3Ddeadbeef",
            {"a X-Goog-Signature query parameter"},
        ),
        # Redacted, masked or absent: nothing to report.
        ("http://127.0.0.1:9000/bucket/audit/kettle-0.png?<redacted>", set()),
        ("X-Amz-Signature=<redacted>&token=***", set()),
        ("http://127.0.0.1:1/hook?token=***", set()),
        ("uploaded kettle-0.png (signature checked)", set()),
    ],
)
def test_scan_text(text: str, found: set[str]) -> None:
    findings = scan_text("text", text, SECRETS)
    assert {finding.what for finding in findings} == found
    assert all(SIGNATURE not in str(finding) for finding in findings)  # never repeated


def test_files_and_every_database_column_are_searched(tmp_path: Path) -> None:
    (tmp_path / "logs" / "deep").mkdir(parents=True)
    (tmp_path / "logs" / "deep" / "attempt=1.log").write_text(json.dumps({"event": URL}))
    (tmp_path / "logs" / "clean.log").write_text("nothing here")
    database = tmp_path / "airflow.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE trigger (id INTEGER, kwargs TEXT)")
        connection.execute("CREATE TABLE serialized_dag (id INTEGER, data_compressed BLOB)")
        connection.execute("INSERT INTO trigger VALUES (1, ?)", (json.dumps({"k": "v"}),))
        blob = zlib.compress(json.dumps({"key": "runware-key-123"}).encode())
        connection.execute("INSERT INTO serialized_dag VALUES (1, ?)", (blob,))
    connection.close()

    files = Audit(SECRETS)
    files.tree(tmp_path / "logs")
    assert [(Path(f.source).name, f.what) for f in files.findings] == [
        ("attempt=1.log", "the signature"),
        ("attempt=1.log", "a X-Amz-Credential query parameter"),
    ]
    assert len(files.sources) == 2

    watch = DatabaseWatch(database)
    watch.final_snapshot()
    rows = Audit(SECRETS)
    rows.database("db", watch.values)
    assert [(f.source, f.what) for f in rows.findings] == [
        ("db serialized_dag.data_compressed", "the key")  # found only once decompressed
    ]
    assert "db trigger.kwargs" in rows.sources
