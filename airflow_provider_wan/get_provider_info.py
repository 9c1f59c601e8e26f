"""Provider metadata for the providers manager (the ``apache_airflow_provider`` entry point)."""

from __future__ import annotations

from typing import Any

from airflow_provider_wan import __version__


def get_provider_info() -> dict[str, Any]:
    """Describe the provider, its connection type and its modules to Airflow."""
    return {
        "package-name": "airflow-provider-wan",
        "name": "Runware Wan2.6 Image",
        "description": "Image generation with Runware's Wan2.6 Image model "
        "(``alibaba:wan@2.6-image``): batched, deferrable, idempotent.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Runware",
                "external-doc-url": "https://runware.ai/docs",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": "Runware",
                "python-modules": ["airflow_provider_wan.operators.image_inference"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Runware",
                "python-modules": ["airflow_provider_wan.sensors.image_results"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Runware",
                "python-modules": ["airflow_provider_wan.triggers.image_results"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Runware",
                "python-modules": ["airflow_provider_wan.hooks.runware"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_wan.hooks.runware.RunwareHook",
                "hook-name": "Runware",
                "connection-type": "runware",
                "conn-fields": {
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": 60, "minimum": 1},
                        "description": "Read timeout of one HTTP request to Runware.",
                    },
                    "max_retries": {
                        "label": "Retries",
                        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0},
                        "description": "Retries of a request on 408, 429, 5xx, timeouts and "
                        "dropped connections.",
                    },
                    "batch_size": {
                        "label": "Tasks per request",
                        "schema": {"type": ["integer", "null"], "default": 50, "minimum": 1},
                        "description": "How many tasks share one submission request.",
                    },
                    "poll_batch_size": {
                        "label": "Polls per request",
                        "schema": {"type": ["integer", "null"], "default": 500, "minimum": 1},
                        "description": "How many getResponse tasks share one poll request.",
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login", "extra"],
                    "relabeling": {"host": "Base URL", "password": "API key"},
                    "placeholders": {
                        "host": "https://api.runware.ai/v1",
                        "password": "Runware API key",
                    },
                },
            }
        ],
    }
