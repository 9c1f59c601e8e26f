"""The exceptions of the Runware client: a small hierarchy that reads as English.

::

    RunwareError
    ├── InvalidRequestError        rejected by this client, before any request is sent
    ├── ProtocolError              the API answered with something of an unexpected shape
    └── RunwareAPIError            the API answered with an error
        ├── AuthenticationError    401, 403: missing, wrong or under-privileged key
        ├── InsufficientCreditError 402
        ├── APIValidationError     400: the API refused a task's parameters
        ├── TransientError         408, 429, 5xx, timeouts, dropped connections, retries spent
        └── TaskFailedError        a task that was accepted ended in error
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_wan.api.protocol import SubmitResult
    from airflow_provider_wan.api.results import TaskError


class RunwareError(Exception):
    """Base class of every error raised by this package's Runware client."""


@dataclass(frozen=True)
class Problem:
    """One broken rule of a request: the field's wire name, its value (shortened) and the rule."""

    field: str
    value: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field} = {self.value}: {self.rule}"


class InvalidRequestError(RunwareError, ValueError):
    """A request breaks a rule of the API; raised before anything is sent or paid for.

    :param problems: every broken rule found, each naming the field, the value and the rule.
    :param index: the position of the request in the caller's list, when there was one.
    """

    def __init__(self, problems: Sequence[Problem], *, index: int | None = None) -> None:
        self.problems = list(problems)
        self.index = index
        where = f"request {index}" if index is not None else "request"
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"Invalid {where} ({count} {noun}):\n{lines}")


class ProtocolError(RunwareError):
    """The API answered with a body this client cannot read (the body is shortened and redacted)."""


class RunwareAPIError(RunwareError):
    """The API answered with an error.

    :param message: a readable summary.
    :param status_code: the HTTP status, when the error came with one.
    :param errors: the per-task error objects of the response.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        errors: Sequence[TaskError] = (),
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.errors = list(errors)

    @property
    def code(self) -> str | None:
        """The API's error code of the first error, e.g. ``invalidPositivePrompt``."""
        return self.errors[0].code if self.errors else None

    @property
    def parameter(self) -> str | None:
        """The wire name(s) of the parameter the first error is about, when the API named any
        (several, comma-separated, for a rule across fields such as the size)."""
        if not self.errors or not self.errors[0].parameter:
            return None
        parameter = self.errors[0].parameter
        return ", ".join(parameter) if isinstance(parameter, list) else parameter

    @property
    def task_uuid(self) -> str | None:
        """The task UUID of the first error, when the API named one."""
        return self.errors[0].task_uuid if self.errors else None


class AuthenticationError(RunwareAPIError):
    """The API key is missing, wrong, or lacks permission (HTTP 401 or 403)."""


class InsufficientCreditError(RunwareAPIError):
    """The account's balance does not cover the request (HTTP 402)."""


class APIValidationError(RunwareAPIError):
    """The API refused one or more tasks' parameters (HTTP 400).

    When it came from a submission, :attr:`submit_result` tells which tasks of the same
    submission were accepted all the same (and are being generated, and billed).
    """

    submit_result: SubmitResult | None = None


class TransientError(RunwareAPIError):
    """A failure worth retrying (408, 429, 5xx, timeout, dropped connection) outlived the retries.

    :param attempts: how many attempts were made.
    """

    def __init__(
        self,
        message: str,
        *,
        attempts: int = 1,
        status_code: int | None = None,
        errors: Sequence[TaskError] = (),
    ) -> None:
        super().__init__(message, status_code=status_code, errors=errors)
        self.attempts = attempts


class TaskFailedError(RunwareAPIError):
    """One or more tasks that the API accepted ended in error."""
