"""A Runware-compatible emulator of the REST API for ``alibaba:wan@2.6-image``.

An independent oracle: it imports nothing from ``airflow_provider_wan.api`` and keeps its own
rules table, so the client and the emulator can disagree, and a test then tells which is wrong.

    from airflow_provider_wan.emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(api_keys=("test-key",))) as server:
        server.base_url  # http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

from .config import EmulatorConfig, FaultConfig
from .server import EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorServer", "FaultConfig"]
