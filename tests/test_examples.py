"""The README's demo and the example DAGs work as a new user would run them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_example_dag_imports_cleanly(airflow_db: None) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(ROOT / "dags"))
    assert bag.import_errors == {}
    assert "wan_quickstart" in bag.dag_ids


@pytest.mark.slow
def test_the_demo_command_makes_images_and_a_manifest(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "RUNWARE_API_KEY", "STORAGE_EMULATOR", "AWS_"))
    }
    env |= {"AIRFLOW_HOME": str(tmp_path / "airflow"), "WAN_DEMO_OUTPUT": str(tmp_path / "out")}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "6 images, 0 failed" in done.stdout
    [manifest] = (tmp_path / "out").glob("*/_manifests/*.jsonl")
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(lines) == 6
    for line in lines:
        image = Path(line["uri"].removeprefix("file://"))
        assert image.exists() and image.stat().st_size == line["bytes"]
