"""The Runware hook: connections in every form Airflow offers, masking, and connection tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from airflow_provider_wan.api import DEFAULT_BASE_URL
from airflow_provider_wan.emulator import EmulatorServer
from airflow_provider_wan.hooks.runware import RunwareHook, base_url_of
from tests.fixtures.runware_emulator import EMULATOR_API_KEY
from tests.fixtures.scripted_server import Reply, ScriptedServer

KEY = "rw-hook-test-key-5c0ffee"


def use_connection(
    monkeypatch: pytest.MonkeyPatch, conn_id: str = "runware_default", **fields: object
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "runware", **fields})
    )


@pytest.mark.parametrize(
    ("host", "port", "schema", "expected"),
    [
        (None, None, None, DEFAULT_BASE_URL),
        ("", None, None, DEFAULT_BASE_URL),
        ("http://127.0.0.1:8080/v1", None, None, "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1/v1", 9000, None, "http://127.0.0.1:9000/v1"),
        ("https://proxy.example.com/runware/", None, None, "https://proxy.example.com/runware"),
        ("api.runware.ai", None, None, "https://api.runware.ai/v1"),
        ("api.runware.ai", None, "v2", "https://api.runware.ai/v2"),
        ("127.0.0.1", 8080, "v1", "http://127.0.0.1:8080/v1"),
        ("localhost", 8080, None, "http://localhost:8080/v1"),
    ],
)
def test_the_base_url_of_a_connection(
    host: str | None, port: int | None, schema: str | None, expected: str
) -> None:
    assert base_url_of(host, port, schema) == expected


def test_settings_from_a_json_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(
        monkeypatch,
        host="http://127.0.0.1:1234/v1",
        password=KEY,
        extra={"timeout": "12.5", "max_retries": 2, "batch_size": 20},
    )
    settings = RunwareHook().get_settings()
    assert settings.base_url == "http://127.0.0.1:1234/v1"
    assert settings.api_key == KEY
    assert (settings.timeout, settings.max_retries, settings.batch_size) == (12.5, 2, 20)
    client = RunwareHook().get_conn()
    assert client.batch_size == 20 and client.retry.max_attempts == 3
    assert KEY not in repr(settings) and KEY not in repr(client)


def test_settings_from_a_uri_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_RUNWARE_URI", f"runware://:{KEY}@127.0.0.1:4321/v1?batch_size=7"
    )
    settings = RunwareHook(runware_conn_id="runware_uri").get_settings()
    assert settings.base_url == "http://127.0.0.1:4321/v1"
    assert settings.api_key == KEY
    assert settings.batch_size == 7


def test_prefixed_extras_from_older_forms_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, password=KEY, extra={"extra__runware__batch_size": "9"})
    assert RunwareHook().get_settings().batch_size == 9


def test_a_connection_without_key_is_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, host="api.runware.ai")
    with pytest.raises(ValueError, match="no API key: put the Runware API key in its password"):
        RunwareHook().get_settings()


def test_a_non_numeric_extra_is_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, password=KEY, extra={"timeout": "soon"})
    with pytest.raises(
        ValueError, match="timeout, max_retries, batch_size and poll_batch_size must be numbers"
    ):
        RunwareHook().get_settings()


def test_reading_the_connection_masks_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    key = f"rw-unique-{uuid.uuid4().hex}"
    use_connection(monkeypatch, password=key)
    assert key in str(redact(f"the key is {key}"))  # not yet known to the masker
    RunwareHook().get_settings()
    assert key not in str(redact(f"the key is {key}"))


async def test_the_async_client_reads_the_connection_without_blocking(
    monkeypatch: pytest.MonkeyPatch, scripted_server: ScriptedServer
) -> None:
    use_connection(monkeypatch, host=scripted_server.url, password=KEY)
    scripted_server.play(Reply(body={"data": [], "errors": [{"code": "taskNotFound"}]}))
    client = await RunwareHook().get_async_client()
    async with client:
        await client.check_connection()
    assert scripted_server.requests[0].headers["Authorization"] == f"Bearer {KEY}"


def test_test_connection_reports_success_and_failure(
    monkeypatch: pytest.MonkeyPatch, scripted_server: ScriptedServer
) -> None:
    use_connection(monkeypatch, host=scripted_server.url, password=KEY)
    scripted_server.play(
        Reply(body={"data": [], "errors": [{"code": "taskNotFound", "message": "x"}]})
    )
    ok, message = RunwareHook().test_connection()
    assert ok, message
    assert scripted_server.requests[0].body[0]["taskType"] == "getResponse"
    scripted_server.play(
        Reply(status=401, body={"errors": [{"code": "invalidApiKey", "message": "bad key"}]})
    )
    ok, message = RunwareHook().test_connection()
    assert not ok
    assert "invalidApiKey" in message and KEY not in message


def airflow_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    airflow = Path(sys.executable).with_name("airflow")
    return subprocess.run(
        [str(airflow), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_airflow_cli_lists_the_provider_and_hook_and_tests_the_connection(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW_CONN_RUNWARE_DEFAULT": json.dumps(
            {"conn_type": "runware", "host": emulator.base_url, "password": EMULATOR_API_KEY}
        ),
        "AIRFLOW_CONN_RUNWARE_WRONG": json.dumps(
            {"conn_type": "runware", "host": emulator.base_url, "password": KEY}
        ),
    }
    providers = airflow_cli("providers", "list", env=env)
    assert "airflow-provider-wan" in providers.stdout, providers.stderr
    hooks = airflow_cli("providers", "hooks", env=env)
    assert "airflow_provider_wan.hooks.runware.RunwareHook" in hooks.stdout
    tested = airflow_cli("connections", "test", "runware_default", env=env)
    assert "Connection success!" in tested.stdout, tested.stdout + tested.stderr
    assert EMULATOR_API_KEY not in tested.stdout + tested.stderr
    wrong = airflow_cli("connections", "test", "runware_wrong", env=env)
    assert "Connection failed!" in wrong.stdout and "invalidApiKey" in wrong.stdout
    assert KEY not in wrong.stdout + wrong.stderr
    assert emulator.stats()["tasks_accepted"] == 0  # testing a connection costs nothing
