"""Declarative campaigns: a YAML file per campaign becomes a scheduled DAG.

A DAG file with two lines loads a whole folder::

    from airflow_provider_wan.campaigns import register_campaigns

    register_campaigns(Path(__file__).parent / "campaigns", globals())

Each campaign's DAG reads and renders its items (``plan``), generates them in chunks with the
deferrable Wan operator behind a per-run budget (``generate``, mapped), and writes the run
manifest, a contact sheet and a summary (``finish``). See docs/campaigns.md for every key.

The names below are imported on first use, so ``wan campaign validate`` does not pay for
importing Airflow's DAG machinery when it only checks files.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_wan.campaigns.dag import build_dag
    from airflow_provider_wan.campaigns.files import CampaignFile, read_campaign
    from airflow_provider_wan.campaigns.loader import (
        campaign_dag,
        load_campaign,
        load_campaigns,
        register_campaigns,
    )
    from airflow_provider_wan.campaigns.presets import SIZE_PRESETS
    from airflow_provider_wan.campaigns.problems import CampaignError, Problem
    from airflow_provider_wan.campaigns.spec import Campaign

_EXPORTS = {
    "Campaign": "spec",
    "CampaignError": "problems",
    "CampaignFile": "files",
    "Problem": "problems",
    "SIZE_PRESETS": "presets",
    "build_dag": "dag",
    "campaign_dag": "loader",
    "load_campaign": "loader",
    "load_campaigns": "loader",
    "read_campaign": "files",
    "register_campaigns": "loader",
}

__all__ = [
    "SIZE_PRESETS",
    "Campaign",
    "CampaignError",
    "CampaignFile",
    "Problem",
    "build_dag",
    "campaign_dag",
    "load_campaign",
    "load_campaigns",
    "read_campaign",
    "register_campaigns",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
