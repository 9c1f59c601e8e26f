"""The examples of dags/ for dag.test(): the campaign folder, and the TaskFlow example.

They are loaded from dags/ itself (the files users copy), with quick polling for the tests.
Destinations come from each run's conf (``destination``, ``output_uri``). Airflow DAG file.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from airflow_provider_wan.campaigns import register_campaigns

EXAMPLES = Path(__file__).resolve().parents[2] / "dags"
QUICK = {"wait": {"poll_interval_seconds": 0.05, "max_poll_interval_seconds": 0.2}}

register_campaigns(EXAMPLES / "campaigns", globals(), defaults=QUICK)

os.environ.setdefault("WAN_EXAMPLE_POLL_INTERVAL", "0.05")
_spec = importlib.util.spec_from_file_location(
    "wan_example_taskflow", EXAMPLES / "wan_catalog_taskflow.py"
)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)  # its DAG registers itself with this DAG file
