"""Control endpoints (stats, reset, config), the CLI, and the emulator's independence."""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from airflow_provider_wan.emulator import EmulatorConfig, EmulatorServer
from airflow_provider_wan.emulator.testing import image_inference_task, new_task_uuid

from .conftest import Api

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_wan" / "emulator"

STATS_KEYS = {
    "requests",
    "requests_by_task_type",
    "tasks_accepted",
    "duplicate_submissions",
    "images_generated",
    "bytes_served",
    "uploads_made",
    "uploads_failed",
    "webhooks_made",
    "faults_injected",
    "in_flight",
}


def test_stats_count_requests_tasks_and_images(api: Api, emulator: EmulatorServer) -> None:
    stats = emulator.stats()
    assert set(stats) >= STATS_KEYS
    assert stats["requests"] == 0
    task = image_inference_task(numberResults=2)
    api.post([task, image_inference_task(width=1)])
    api.post([task])  # conflict
    api.poll(task["taskUUID"])
    httpx.post(emulator.base_url, json=[], trust_env=False)  # 401, still a request
    stats = emulator.stats()
    assert stats["requests"] == 4
    assert stats["requests_by_task_type"] == {"imageInference": 3, "getResponse": 1}
    assert stats["tasks_accepted"] == 1
    assert stats["duplicate_submissions"] == 1
    assert stats["validation_errors"] == 1
    assert stats["images_generated"] == 2
    assert stats["auth_failures"] == 1
    assert stats["in_flight"] == 0


def test_reset_forgets_tasks_and_counters(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(generation_time=5.0)
    task = image_inference_task(deliveryMethod="async")
    api.post([task])
    assert emulator.stats()["in_flight"] == 1
    emulator.reset()
    stats = emulator.stats()
    assert (stats["requests"], stats["tasks_accepted"], stats["in_flight"]) == (0, 0, 0)
    assert api.poll(task["taskUUID"])["errors"][0]["code"] == "taskNotFound"
    assert api.post([task]).status_code == 200  # the UUID is free again


def test_reset_keeps_the_config_unless_told(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(cost_per_image=0.07)
    emulator.reset()
    assert emulator.current_config()["cost_per_image"] == 0.07
    emulator.reset(restore_config=True)
    assert emulator.current_config()["cost_per_image"] == 0.03


def test_configure_validates_and_reports_the_config(emulator: EmulatorServer) -> None:
    config = emulator.configure(generation_time=0.5, faults={"http_500": 0.1})
    assert config["generation_time"] == 0.5
    assert config["faults"]["http_500"] == 0.1
    with pytest.raises(ValueError, match="unknown"):
        emulator.configure(no_such_option=1)
    with pytest.raises(ValueError):
        emulator.configure(max_concurrent=0)


def test_configure_faults_replaces_all_rates(emulator: EmulatorServer) -> None:
    emulator.configure(faults={"http_500": 0.5})
    config = emulator.configure(faults={"http_503": 0.5})
    assert (config["faults"]["http_500"], config["faults"]["http_503"]) == (0.0, 0.5)


def test_two_servers_are_independent() -> None:
    config = EmulatorConfig(api_keys=("a",), generation_time=0.0)
    with EmulatorServer(config) as one, EmulatorServer(config) as two:
        assert one.port != two.port
        task = image_inference_task()
        headers = {"Authorization": "Bearer a"}
        assert httpx.post(one.base_url, json=[task], headers=headers).status_code == 200
        assert httpx.post(two.base_url, json=[task], headers=headers).status_code == 200
        assert one.stats()["tasks_accepted"] == two.stats()["tasks_accepted"] == 1
    assert not one.running and not two.running


def test_start_and_stop_by_hand() -> None:
    server = EmulatorServer(EmulatorConfig())
    server.start()
    try:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert server.root_url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{server.root_url}/_emulator/stats").status_code == 200
    finally:
        server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.root_url}/_emulator/stats", timeout=2)


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_wan.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=PACKAGE.parents[1],
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.fullmatch(r"Runware emulator listening on (http://127\.0\.0\.1:\d+/v1)\n", line)
    if match is None:
        process.kill()
        raise AssertionError(f"unexpected first line {line!r}; stderr: {process.stderr.read()}")  # type: ignore[union-attr]
    return process, match.group(1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_its_url_serves_and_stops_on_signal(sig: signal.Signals) -> None:
    process, base_url = _start_cli("--api-key", "cli-key", "--generation-time", "0.01")
    try:
        response = httpx.post(
            base_url,
            json=[image_inference_task()],
            headers={"Authorization": "Bearer cli-key"},
            trust_env=False,
        )
        assert response.status_code == 200
        bad = httpx.post(base_url, json=[], headers={"Authorization": "Bearer other"})
        assert bad.status_code == 401
        started = time.monotonic()
        process.send_signal(sig)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_fault_options() -> None:
    process, base_url = _start_cli("--fault-500", "1.0")
    try:
        response = httpx.post(
            base_url,
            json=[{"taskType": "getResponse", "taskUUID": new_task_uuid()}],
            headers={"Authorization": "Bearer any"},
            trust_env=False,
        )
        assert response.status_code == 500
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def test_cli_main_rejects_bad_options() -> None:
    from airflow_provider_wan.emulator.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--fault-500", "0.8", "--fault-503", "0.8"])
    assert exc.value.code == 2


def test_emulator_imports_nothing_from_the_client_or_airflow() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level > 1:
                names = ["airflow_provider_wan." + (node.module or "")]
            for name in names:
                assert not name.startswith("airflow_provider_wan.api"), (path.name, name)
                assert name.split(".")[0] != "airflow", (path.name, name)
    code = (
        "import sys, airflow_provider_wan.emulator as e, airflow_provider_wan.emulator.cli, "
        "airflow_provider_wan.emulator.testing\n"
        "bad = [m for m in sys.modules if m.startswith('airflow_provider_wan.api') "
        "or m == 'airflow' or m.startswith('airflow.')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parents[1])
