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
    assert {
        "wan_quickstart",
        "wan_catalog_taskflow",
        "catalog_refresh",
        "editorial_banners",
        "seasonal_collection",
    } <= set(bag.dag_ids)


@pytest.mark.slow
def test_the_demo_command_runs_a_campaign_to_the_end(tmp_path: Path) -> None:
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
    assert "20 images, 0 failed, 0.60 USD" in done.stdout
    assert "status: complete" in done.stdout
    [manifest] = [
        path
        for path in (tmp_path / "out" / "catalog_refresh").glob("*/_manifests/*.jsonl")
        if ".part-" not in path.name
    ]
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(lines) == 20
    for line in lines:
        image = Path(line["uri"].removeprefix("file://"))
        assert image.exists() and image.stat().st_size == line["bytes"]
    sheet = manifest.with_name(manifest.stem + ".contact-sheet.png")
    assert sheet.exists()
    for printed in (f"manifest:      {manifest}", f"contact sheet: {sheet}"):
        assert printed in done.stdout
