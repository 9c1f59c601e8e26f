"""The Runware clients: one set of plans, a synchronous face and an asynchronous face.

:class:`RunwareClient` (httpx.Client) serves operators, scripts and notebooks;
:class:`AsyncRunwareClient` (httpx.AsyncClient) serves triggers, whose event loop must never
block. Both run the same plans from :mod:`~airflow_provider_wan.api.protocol` and
:mod:`~airflow_provider_wan.api.tracking`, so they agree on every rule by construction.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from airflow_provider_wan import __version__
from airflow_provider_wan.api import constants as c
from airflow_provider_wan.api.errors import ProtocolError, TaskFailedError
from airflow_provider_wan.api.inference import ImageInference
from airflow_provider_wan.api.protocol import (
    Envelope,
    Plan,
    PollUpdate,
    Send,
    Sleep,
    SubmitResult,
    batches,
    excerpt,
    exchange,
    poll_body,
    read_poll,
    read_submission,
    rejection_error,
    submission_body,
)
from airflow_provider_wan.api.results import Acknowledgement, ImageResult, TaskError
from airflow_provider_wan.api.retry import RetryPolicy
from airflow_provider_wan.api.tracking import PollSchedule, ResultsTracker, wait_steps
from airflow_provider_wan.api.validation import check_unique_task_uuids, parse_inferences

T = TypeVar("T")
H = TypeVar("H", httpx.Client, httpx.AsyncClient)
TaskLike = ImageInference | Mapping[str, Any]
ProgressCallback = Callable[[ResultsTracker, int], None]

DEFAULT_TIMEOUT = 30.0
DEFAULT_BATCH_SIZE = 50
DEFAULT_POLL_BATCH_SIZE = 500
DEFAULT_WAIT = 1200.0


def _with_uuids(tasks: Iterable[TaskLike]) -> list[ImageInference]:
    models = parse_inferences(tasks)
    models = [
        task if task.task_uuid else task.model_copy(update={"task_uuid": str(uuid.uuid4())})
        for task in models
    ]
    check_unique_task_uuids(models)
    return models


class _Plans(Generic[H]):
    """What both clients know: configuration, and every procedure as a plan.

    :param http_client: an httpx client of the face's kind to use instead of its own.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = c.DEFAULT_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_batch_size: int = DEFAULT_POLL_BATCH_SIZE,
        seed: int | None = None,
        http_client: H | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("an API key is required (Runware's dashboard issues them)")
        if batch_size < 1 or poll_batch_size < 1:
            raise ValueError("batch sizes must be at least 1")
        self.base_url = base_url
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.poll_batch_size = poll_batch_size
        self._rng = random.Random(seed)
        self._api_key = api_key
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"airflow-provider-wan/{__version__}",
        }
        self._owns_http = http_client is None
        self._http: H = http_client if http_client is not None else self._new_http()

    def _new_http(self) -> H:
        """The face's own pooled httpx client (one connection)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _http_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))

    def _exchange(self, body: Sequence[Mapping[str, Any]], description: str) -> Plan[Envelope]:
        return exchange(
            body,
            description=description,
            policy=self.retry,
            rng=self._rng,
            secrets=(self._api_key,),
        )

    def submit_plan(self, tasks: Sequence[ImageInference]) -> Plan[SubmitResult]:
        """Submit *tasks* (each with its task UUID) in batches of ``batch_size``."""
        result = SubmitResult()
        for batch in batches(tasks, self.batch_size):
            envelope = yield from self._exchange(
                submission_body(batch), f"submit {len(batch)} task(s)"
            )
            result.merge(read_submission(batch, envelope))
        return result

    def poll_plan(self, task_uuids: Sequence[str]) -> Plan[PollUpdate]:
        """Ask for the state of *task_uuids* with batched ``getResponse`` tasks."""
        update = PollUpdate()
        for batch in batches(list(task_uuids), self.poll_batch_size):
            envelope = yield from self._exchange(poll_body(batch), f"poll {len(batch)} task(s)")
            update.merge(read_poll(batch, envelope))
        return update

    def wait_plan(
        self,
        expected: Mapping[str, int | None],
        *,
        timeout: float = DEFAULT_WAIT,
        deadline: float | None = None,
        schedule: PollSchedule | None = None,
        on_update: ProgressCallback | None = None,
        failed: Mapping[str, TaskError] | None = None,
    ) -> Plan[ResultsTracker]:
        """Poll until every task in *expected* is terminal, or the deadline passes.

        :param deadline: epoch seconds; ``timeout`` seconds from now when not given.
        :param failed: tasks already known to have failed, reported with the others.
        """
        tracker = ResultsTracker(expected, failed)
        return (
            yield from wait_steps(
                tracker,
                self.poll_plan,
                schedule=schedule or PollSchedule(),
                deadline=deadline if deadline is not None else time.time() + timeout,
                on_update=on_update,
            )
        )

    def single_plan(self, task: Mapping[str, Any], description: str) -> Plan[dict[str, Any]]:
        """Run one auxiliary task (``imageUpload``, ``getTaskDetails``) and return its data item."""
        envelope = yield from self._exchange([task], description)
        if envelope.errors:
            error = envelope.errors[0]
            raise TaskFailedError(
                f"{description} failed: {error.describe()}", errors=envelope.errors
            )
        if not envelope.data:
            raise ProtocolError(f"{description}: Runware answered with no data")
        return envelope.data[0]

    def check_plan(self) -> Plan[None]:
        """A request that costs nothing: ask for a task that does not exist.

        A wrong key raises :class:`~airflow_provider_wan.api.errors.AuthenticationError`; the
        "not found" answer for the made-up task shows the key was accepted.
        """
        yield from self._exchange(poll_body([str(uuid.uuid4())]), "check the connection")

    @staticmethod
    def _finish(tracker: ResultsTracker) -> list[ImageResult]:
        if tracker.failures:
            errors = list(tracker.failures.values())
            raise TaskFailedError(
                f"{len(errors)} task(s) failed: " + "; ".join(e.describe() for e in errors[:3]),
                errors=errors,
            )
        if not tracker.done:
            raise TaskFailedError(
                f"timed out with {len(tracker.pending)} task(s) unfinished: "
                + ", ".join(tracker.pending[:5])
            )
        return tracker.images()


class RunwareClient(_Plans[httpx.Client]):
    """A synchronous Runware client with one pooled connection.

    :param api_key: the Runware API key (sent as a bearer token; never logged or shown).
    :param base_url: the REST endpoint, ``https://api.runware.ai/v1`` by default.
    :param timeout: seconds to wait for one HTTP response.
    :param retry: the retry policy for 408, 429, 5xx, timeouts and dropped connections.
    :param batch_size: tasks per submission request.
    :param poll_batch_size: ``getResponse`` tasks per poll request.
    :param seed: seeds the retry jitter, for reproducible tests.
    :param http_client: an ``httpx.Client`` to use instead of the client's own.
    """

    def _new_http(self) -> httpx.Client:
        return httpx.Client(timeout=self._http_timeout(), limits=httpx.Limits(max_connections=1))

    def run(self, plan: Plan[T]) -> T:
        """Carry out a plan: post what it sends, sleep when it waits, return what it returns."""
        outcome: Any = None
        while True:
            try:
                action = plan.send(outcome)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            outcome = None
            if isinstance(action, Sleep):
                time.sleep(action.seconds)
            elif isinstance(action, Send):
                try:
                    outcome = self._http.post(
                        self.base_url, content=action.body, headers=self._headers
                    )
                except httpx.RequestError as error:
                    outcome = error

    def submit(self, tasks: Iterable[TaskLike], *, raise_on_rejection: bool = True) -> SubmitResult:
        """Validate and submit *tasks*, many per request.

        Tasks without a task UUID get a random one. A task the API already holds
        (``conflictTaskUUID``) is reported in ``already_submitted``, not as a failure.

        :raises InvalidRequestError: before anything is sent, when a task breaks a rule.
        :raises APIValidationError: when the API refused tasks (and *raise_on_rejection*).
        """
        result = self.run(self.submit_plan(_with_uuids(tasks)))
        if result.rejected and raise_on_rejection:
            raise rejection_error(result)
        return result

    def poll(self, task_uuids: Sequence[str]) -> PollUpdate:
        """The current state of *task_uuids* (batched ``getResponse``)."""
        return self.run(self.poll_plan(task_uuids))

    def wait(
        self,
        expected: Mapping[str, int | None],
        *,
        timeout: float = DEFAULT_WAIT,
        deadline: float | None = None,
        schedule: PollSchedule | None = None,
        on_update: ProgressCallback | None = None,
        failed: Mapping[str, TaskError] | None = None,
    ) -> ResultsTracker:
        """Poll until every task is done or the deadline passes; see :meth:`wait_plan`."""
        plan = self.wait_plan(
            expected,
            timeout=timeout,
            deadline=deadline,
            schedule=schedule,
            on_update=on_update,
            failed=failed,
        )
        return self.run(plan)

    def generate(
        self, tasks: Iterable[TaskLike], *, timeout: float = DEFAULT_WAIT
    ) -> list[ImageResult]:
        """Submit *tasks* for asynchronous delivery, wait, and return every image.

        :raises TaskFailedError: when a task fails or time runs out.
        """
        models = [t.model_copy(update={"delivery_method": "async"}) for t in _with_uuids(tasks)]
        result = self.submit(models)
        expected = {t.task_uuid: t.expected_images for t in models if t.task_uuid}
        return self._finish(self.wait(expected, timeout=timeout)) if result.in_flight else []

    def upload_image(self, image: str) -> str:
        """Upload an image (URL, data URI or base64) for use as a reference; returns its UUID."""
        task = {"taskType": c.TASK_IMAGE_UPLOAD, "taskUUID": str(uuid.uuid4()), "image": image}
        item = self.run(self.single_plan(task, "upload an image"))
        return _image_uuid(item)

    def get_task_details(self, task_uuid: str) -> dict[str, Any]:
        """The original request and response of a past task."""
        task = {"taskType": c.TASK_GET_TASK_DETAILS, "taskUUID": task_uuid}
        return self.run(self.single_plan(task, "get task details"))

    def check_connection(self) -> None:
        """Prove the key and base URL work, with a request that costs nothing."""
        self.run(self.check_plan())

    def close(self) -> None:
        """Close the connection pool (when the client created it)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> RunwareClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncRunwareClient(_Plans[httpx.AsyncClient]):
    """The asynchronous face of :class:`RunwareClient`, for triggers and asyncio code.

    Takes the same arguments (with ``http_client`` an ``httpx.AsyncClient``).
    """

    def _new_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self._http_timeout(), limits=httpx.Limits(max_connections=1)
        )

    async def run(self, plan: Plan[T]) -> T:
        """Carry out a plan without blocking the event loop."""
        outcome: Any = None
        while True:
            try:
                action = plan.send(outcome)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            outcome = None
            if isinstance(action, Sleep):
                await asyncio.sleep(action.seconds)
            elif isinstance(action, Send):
                try:
                    outcome = await self._http.post(
                        self.base_url, content=action.body, headers=self._headers
                    )
                except httpx.RequestError as error:
                    outcome = error

    async def submit(
        self, tasks: Iterable[TaskLike], *, raise_on_rejection: bool = True
    ) -> SubmitResult:
        """Validate and submit *tasks*; see :meth:`RunwareClient.submit`."""
        result = await self.run(self.submit_plan(_with_uuids(tasks)))
        if result.rejected and raise_on_rejection:
            raise rejection_error(result)
        return result

    async def poll(self, task_uuids: Sequence[str]) -> PollUpdate:
        """The current state of *task_uuids* (batched ``getResponse``)."""
        return await self.run(self.poll_plan(task_uuids))

    async def wait(
        self,
        expected: Mapping[str, int | None],
        *,
        timeout: float = DEFAULT_WAIT,
        deadline: float | None = None,
        schedule: PollSchedule | None = None,
        on_update: ProgressCallback | None = None,
        failed: Mapping[str, TaskError] | None = None,
    ) -> ResultsTracker:
        """Poll until every task is done or the deadline passes; see :meth:`wait_plan`."""
        plan = self.wait_plan(
            expected,
            timeout=timeout,
            deadline=deadline,
            schedule=schedule,
            on_update=on_update,
            failed=failed,
        )
        return await self.run(plan)

    async def generate(
        self, tasks: Iterable[TaskLike], *, timeout: float = DEFAULT_WAIT
    ) -> list[ImageResult]:
        """Submit, wait and return every image; see :meth:`RunwareClient.generate`."""
        models = [t.model_copy(update={"delivery_method": "async"}) for t in _with_uuids(tasks)]
        result = await self.submit(models)
        expected = {t.task_uuid: t.expected_images for t in models if t.task_uuid}
        if not result.in_flight:
            return []
        return self._finish(await self.wait(expected, timeout=timeout))

    async def upload_image(self, image: str) -> str:
        """Upload a reference image; see :meth:`RunwareClient.upload_image`."""
        task = {"taskType": c.TASK_IMAGE_UPLOAD, "taskUUID": str(uuid.uuid4()), "image": image}
        return _image_uuid(await self.run(self.single_plan(task, "upload an image")))

    async def get_task_details(self, task_uuid: str) -> dict[str, Any]:
        """The original request and response of a past task."""
        task = {"taskType": c.TASK_GET_TASK_DETAILS, "taskUUID": task_uuid}
        return await self.run(self.single_plan(task, "get task details"))

    async def check_connection(self) -> None:
        """Prove the key and base URL work, with a request that costs nothing."""
        await self.run(self.check_plan())

    async def aclose(self) -> None:
        """Close the connection pool (when the client created it)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncRunwareClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _image_uuid(item: Mapping[str, Any]) -> str:
    ack = Acknowledgement.model_validate(item)
    if not ack.image_uuid:
        raise ProtocolError(f"imageUpload answered without an imageUUID: {excerpt(str(item))}")
    return ack.image_uuid
