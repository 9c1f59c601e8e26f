"""Apache Airflow provider for Runware's Wan2.6 Image model (``alibaba:wan@2.6-image``)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
