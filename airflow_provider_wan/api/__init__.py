"""The Runware protocol for Wan2.6 Image, usable from plain Python (no Airflow import here).

>>> from airflow_provider_wan.api import ImageInference, RunwareClient
>>> task = ImageInference(positive_prompt="a red bicycle, studio light", width=1024, height=1024)
>>> with RunwareClient(api_key) as client:                        # doctest: +SKIP
...     images = client.generate([task])
"""

from __future__ import annotations

from airflow_provider_wan.api.client import AsyncRunwareClient, RunwareClient
from airflow_provider_wan.api.constants import DEFAULT_BASE_URL, WAN_IMAGE_MODEL
from airflow_provider_wan.api.errors import (
    APIValidationError,
    AuthenticationError,
    InsufficientCreditError,
    InvalidRequestError,
    Problem,
    ProtocolError,
    RunwareAPIError,
    RunwareError,
    TaskFailedError,
    TransientError,
)
from airflow_provider_wan.api.inference import (
    AlibabaSettings,
    ImageInference,
    Inputs,
    ProviderSettings,
    Safety,
    describe_size_rule,
    size_problem,
)
from airflow_provider_wan.api.protocol import PollUpdate, SubmitResult
from airflow_provider_wan.api.results import Acknowledgement, ImageResult, TaskError
from airflow_provider_wan.api.retry import RetryPolicy
from airflow_provider_wan.api.tracking import PollSchedule, ResultsTracker
from airflow_provider_wan.api.uuids import derive_task_uuid
from airflow_provider_wan.api.validation import parse_inference, parse_inferences

__all__ = [
    "DEFAULT_BASE_URL",
    "WAN_IMAGE_MODEL",
    "APIValidationError",
    "Acknowledgement",
    "AlibabaSettings",
    "AsyncRunwareClient",
    "AuthenticationError",
    "ImageInference",
    "ImageResult",
    "Inputs",
    "InsufficientCreditError",
    "InvalidRequestError",
    "PollSchedule",
    "PollUpdate",
    "Problem",
    "ProtocolError",
    "ProviderSettings",
    "ResultsTracker",
    "RetryPolicy",
    "RunwareAPIError",
    "RunwareClient",
    "RunwareError",
    "Safety",
    "SubmitResult",
    "TaskError",
    "TaskFailedError",
    "TransientError",
    "derive_task_uuid",
    "describe_size_rule",
    "parse_inference",
    "parse_inferences",
    "size_problem",
]
