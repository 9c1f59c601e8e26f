"""Campaign DAGs for the tests: every YAML under tests/dags/campaigns (airflow DAG loader)."""

from __future__ import annotations

from pathlib import Path

from airflow_provider_wan.campaigns import register_campaigns

register_campaigns(Path(__file__).parent / "campaigns", globals())
