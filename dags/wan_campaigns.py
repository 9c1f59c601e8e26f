"""Airflow DAG loader for campaign files: every YAML under dags/campaigns/ becomes a DAG.

A broken campaign file does not take the others down: its problems (file, line and key) show
as this file's import error while every valid campaign keeps loading. Check campaign files
before deploying them with ``wan campaign validate dags/campaigns``. See docs/campaigns.md.
"""

from __future__ import annotations

from pathlib import Path

from airflow_provider_wan.campaigns import register_campaigns

register_campaigns(Path(__file__).parent / "campaigns", globals())
