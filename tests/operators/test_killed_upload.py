"""A storage step SIGKILLed mid-upload and run again: no duplicates, no missing objects, no
image paid twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from airflow_provider_wan.emulator import EmulatorServer
from tests.fixtures.runware_emulator import EMULATOR_API_KEY

COUNT = 16


def job(emulator: EmulatorServer, destination: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.operators.delivery_job",
        emulator.base_url,
        EMULATOR_API_KEY,
        destination,
        "run-1",
        str(COUNT),
    ]


def images_in(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.png"))


def test_a_killed_upload_is_finished_by_the_retry_without_duplicates(
    emulator: EmulatorServer, local_destination: Any
) -> None:
    root: Path = local_destination.root
    destination = local_destination.uri("{item_key}-{index}.{ext}")
    cwd = Path(__file__).resolve().parents[2]
    first = subprocess.Popen(
        job(emulator, destination), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while not images_in(root) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.005)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    stored_before = len(images_in(root))
    assert stored_before < COUNT, "the kill came too late to interrupt the uploads"
    assert not (root / "_manifests").exists() or not list((root / "_manifests").iterdir())

    retry = subprocess.run(
        job(emulator, destination),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert f"stored {COUNT}" in retry.stdout

    names = [p.name for p in images_in(root)]
    assert names == sorted(f"item-{n:02d}-0.png" for n in range(COUNT))  # each once, nothing else
    assert not [p for p in root.rglob("*") if p.name.endswith(".wan-partial")]
    [manifest] = list((root / "_manifests").iterdir())
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(lines) == COUNT and {line["kind"] for line in lines} == {"image"}
    for line in lines:
        path = Path(line["uri"].removeprefix("file://"))
        assert path.exists() and path.stat().st_size == line["bytes"]
    stats = emulator.stats()
    assert stats["tasks_accepted"] == COUNT  # the retry paid for nothing
    assert stats["duplicate_submissions"] == COUNT
