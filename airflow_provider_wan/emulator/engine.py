"""The emulator's core: accepts tasks, schedules generations, answers polls. No HTTP here.

Capacity model: at most ``max_concurrent`` imageInference tasks generate at once, each in its
own slot, producing its images one after another (each takes ``generation_time`` with
optional jitter), so a multi-image task shows partial results while it runs. Further tasks
wait in a FIFO queue; a request that would make the queue longer than ``queue_size`` is
refused whole (:class:`CapacityExceeded`, HTTP 429).

Generation is simulated with asyncio sleeps: a queued task costs a small record, a running
one a sleeping coroutine. Image bytes are produced only when somebody needs them: inline
outputs (``dataURI``, ``base64Data``) and uploads when the image finishes, URL images when
they are fetched.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import math
import random
import re
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from PIL import Image

from . import errors, images, rules
from .config import EmulatorConfig
from .delivery import Callbacks
from .faults import FaultInjector
from .state import ERROR, PROCESSING, QUEUED, SUCCESS, Clock, ImageRecord, Stats, TaskRecord

#: How often expired images and tasks are swept away (seconds).
SWEEP_INTERVAL = 10.0
#: Uploaded images kept at most (oldest evicted first).
MAX_UPLOADED_IMAGES = 10_000
#: Seconds an uploaded image stays usable (Runware: 30 days after last use).
UPLOAD_RETENTION = 30 * 86_400.0


class CapacityExceeded(Exception):
    """The queue cannot take the request's tasks; answer 429 with ``retry_after``."""

    def __init__(self, retry_after: int, queued: int, wanted: int) -> None:
        super().__init__(
            f"Queue capacity exceeded: {queued} tasks waiting, {wanted} more would not fit."
        )
        self.retry_after = retry_after


@dataclass
class Outcome:
    """What a batch of tasks produced: the HTTP status and the response body."""

    status: int
    body: dict[str, Any]


class Engine:
    """Task store, scheduler and result builder, living on one event loop."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.initial_config = config
        self.config = config
        self.clock = Clock()
        self.stats = Stats()
        self.callbacks = Callbacks(config, self.stats)
        self.faults = FaultInjector(config.faults, config.seed)
        self._jitter = random.Random(f"{config.seed}:jitter")
        self._nsfw = self._nsfw_pattern(config.nsfw_word)
        self.tasks: dict[str, TaskRecord] = {}
        self.seen: set[str] = set()
        self.images: dict[str, ImageRecord] = {}
        self.queue: deque[TaskRecord] = deque()
        self.uploaded: deque[str] = deque()
        self.running = 0
        self._background: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    # -- configuration and lifecycle -------------------------------------------------------

    @staticmethod
    def _nsfw_pattern(word: str) -> re.Pattern[str] | None:
        return re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE) if word else None

    def configure(self, config: EmulatorConfig) -> None:
        """Apply a new configuration to the running emulator (tasks and stats are kept)."""
        old = self.config
        self.config = config
        self.callbacks.config = config
        self.faults.faults = config.faults
        if config.seed != old.seed:
            self.faults.reseed(config.seed)
            self._jitter = random.Random(f"{config.seed}:jitter")
        self._nsfw = self._nsfw_pattern(config.nsfw_word)
        while self.queue and self.running < self.config.max_concurrent:
            self._start(self.queue.popleft())

    def start(self) -> None:
        """Start the periodic sweeper (call from the event loop)."""
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever())

    async def close(self) -> None:
        """Cancel everything in flight and close the outbound HTTP client."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        await self._cancel_all()
        await self.callbacks.close()

    async def _cancel_all(self) -> None:
        # Empty the queue first, so cancelled generations cannot start queued tasks.
        queued = list(self.queue)
        self.queue.clear()
        for record in queued:
            self._finish(
                record, self._task_error(record, "emulatorReset", "The emulator was reset.")
            )
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def reset(self, *, restore_config: bool = False) -> None:
        """Forget all tasks, images and counters; reseed the random streams."""
        await self._cancel_all()
        self.running = 0
        self.tasks.clear()
        self.seen.clear()
        self.images.clear()
        self.uploaded.clear()
        self.stats.__init__()  # type: ignore[misc]
        self.clock.offset = 0.0
        if restore_config:
            self.configure(self.initial_config)
        self.faults.reseed(self.config.seed)
        self._jitter = random.Random(f"{self.config.seed}:jitter")

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a coroutine in the background, cancelled on reset and shutdown."""
        task: asyncio.Task[Any] = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            self.sweep()

    def sweep(self) -> None:
        """Drop expired images and finished tasks past their retention."""
        now = self.clock.now()
        for key in [k for k, img in self.images.items() if img.expires_at <= now]:
            del self.images[key]
        limit = now - self.config.task_retention
        for key in [
            k
            for k, rec in self.tasks.items()
            if rec.finished_at is not None and rec.finished_at <= limit
        ]:
            del self.tasks[key]

    # -- stats -----------------------------------------------------------------------------

    def stats_dict(self) -> dict[str, Any]:
        data = self.stats.to_dict()
        data["in_flight"] = self.running + len(self.queue)
        data["running"] = self.running
        data["queued"] = len(self.queue)
        data["tasks_stored"] = len(self.tasks)
        data["images_stored"] = len(self.images)
        return data

    # -- one POST /v1 ----------------------------------------------------------------------

    def known_image(self, image_uuid: str) -> bool:
        record = self.images.get(image_uuid.lower())
        return record is not None and record.expires_at > self.clock.now()

    async def handle(self, tasks: list[Any], origin: str) -> Outcome:
        """Process the tasks of one request.

        :param tasks: the decoded JSON array.
        :param origin: ``scheme://host:port`` for image URLs.
        :raises CapacityExceeded: when the queue cannot take the new tasks (nothing accepted).
        """
        for task in tasks:
            task_type, _ = rules.task_identity(task)
            self.stats.requests_by_task_type[task_type or "<invalid>"] += 1

        # Pass 1: validate everything, accept nothing yet.
        verdicts: list[rules.Validated | dict[str, Any]] = []
        claimed: set[str] = set()
        conflicts = 0
        new_inference = 0
        for task in tasks:
            try:
                task_type, task_uuid = rules.check_header(task)
                key = task_uuid.lower()
                if task_type in (rules.IMAGE_INFERENCE, rules.IMAGE_UPLOAD) and (
                    key in self.seen or key in claimed
                ):
                    verdicts.append(self._conflict(task, task_type, task_uuid))
                    conflicts += 1
                    continue
                valid = rules.validate_task(task, self.known_image)
            except rules.TaskRejected as rejected:
                verdicts.append(rejected.error)
                continue
            if not isinstance(valid, rules.LookupRequest):
                claimed.add(key)
            if isinstance(valid, rules.InferenceRequest):
                new_inference += 1
            verdicts.append(valid)

        self._check_capacity(new_inference)
        self.stats.duplicate_submissions += conflicts

        # Pass 2: accept, answer lookups, wait for synchronous tasks.
        now = self.clock.now()
        sync_records: list[TaskRecord] = []
        entries: list[tuple[rules.Validated | dict[str, Any], TaskRecord | None]] = []
        for task, verdict in zip(tasks, verdicts, strict=True):
            record: TaskRecord | None = None
            if isinstance(verdict, rules.InferenceRequest):
                record = self._accept_inference(task, verdict, origin, now)
                if verdict.delivery_method == "sync":
                    sync_records.append(record)
            elif isinstance(verdict, rules.UploadRequest):
                record = self._accept_upload(task, verdict, origin, now)
            elif isinstance(verdict, dict) and verdict["code"] != errors.CONFLICT_TASK_UUID:
                self.stats.validation_errors += 1
            entries.append((verdict, record))

        if sync_records:
            waiters = []
            for record in sync_records:
                if not record.finished:
                    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                    record.waiters.append(future)
                    waiters.append(future)
            if waiters:
                await asyncio.gather(*waiters)

        data: list[dict[str, Any]] = []
        errs: list[dict[str, Any]] = []
        task_outcome_error = False
        for verdict, record in entries:
            if isinstance(verdict, dict):
                errs.append(verdict)
            elif isinstance(verdict, rules.InferenceRequest):
                assert record is not None
                if verdict.delivery_method == "sync":
                    data.extend(record.results)
                    if record.error is not None:
                        errs.append(record.error)
                        task_outcome_error = True
                else:
                    data.append(self._ack(record))
            elif isinstance(verdict, rules.UploadRequest):
                assert record is not None
                data.extend(record.results)
            else:
                items, item_errors = self._lookup(verdict)
                data.extend(items)
                errs.extend(item_errors)
                task_outcome_error = task_outcome_error or any(
                    e.get("status") == ERROR for e in item_errors
                )
        status = 200 if data or task_outcome_error else 400
        return Outcome(status, errors.envelope(data, errs))

    def _check_capacity(self, new_tasks: int) -> None:
        if not new_tasks:
            return
        free = max(0, self.config.max_concurrent - self.running)
        waiting_after = len(self.queue) + max(0, new_tasks - free)
        if waiting_after > self.config.queue_size:
            self.stats.capacity_rejections += 1
            backlog = (len(self.queue) + new_tasks) / self.config.max_concurrent
            retry_after = max(1, math.ceil(backlog * max(self.config.generation_time, 0.001)))
            raise CapacityExceeded(retry_after, len(self.queue), new_tasks)

    @staticmethod
    def _conflict(task: dict[str, Any], task_type: str, task_uuid: str) -> dict[str, Any]:
        delivery = task.get("deliveryMethod", "sync")
        return errors.error_object(
            errors.CONFLICT_TASK_UUID,
            f"Conflict: a task with taskUUID '{task_uuid}' was already submitted. "
            "Use a new taskUUID for a new task, or poll this one with getResponse.",
            parameter="taskUUID",
            task_type=task_type,
            task_uuid=task_uuid,
            context={"taskType": task_type, "taskUUID": task_uuid, "deliveryMethod": delivery},
        )

    @staticmethod
    def _ack(record: TaskRecord) -> dict[str, Any]:
        return {"taskType": record.task_type, "taskUUID": record.task_uuid}

    # -- imageInference --------------------------------------------------------------------

    def _image_seeds(self, task_uuid: str, count: int) -> tuple[int, ...]:
        seeds: list[int] = []
        index = 0
        while len(seeds) < count:
            digest = hashlib.sha256(f"{self.config.seed}:{task_uuid.lower()}:{index}".encode())
            seed = int.from_bytes(digest.digest()[:8], "big") % (2**31 - 1) + 1
            if seed not in seeds:
                seeds.append(seed)
            index += 1
        return tuple(seeds)

    def _accept_inference(
        self, task: dict[str, Any], spec: rules.InferenceRequest, origin: str, now: float
    ) -> TaskRecord:
        record = TaskRecord(
            task_uuid=spec.task_uuid,
            task_type=rules.IMAGE_INFERENCE,
            request=task,
            origin=origin,
            accepted_at=now,
            spec=spec,
            seeds=self._image_seeds(spec.task_uuid, spec.number_results),
        )
        if self.faults.task_fails():
            record.injected_error = self.config.faults.task_error_code
        key = spec.task_uuid.lower()
        self.seen.add(key)
        self.tasks[key] = record
        self.stats.tasks_accepted += 1
        if self.running < self.config.max_concurrent:
            self._start(record)
        else:
            self.queue.append(record)
        return record

    def _start(self, record: TaskRecord) -> None:
        self.running += 1
        record.status = PROCESSING
        self.spawn(self._generate(record))

    def _duration(self) -> float:
        base = self.config.generation_time
        jitter = self.config.generation_jitter
        if jitter:
            base *= 1 + self._jitter.uniform(-jitter, jitter)
        return max(0.0, base)

    async def _generate(self, record: TaskRecord) -> None:
        spec = record.spec
        assert spec is not None
        outcome: dict[str, Any] | None = None
        try:
            for index in range(spec.number_results):
                await asyncio.sleep(self._duration())
                if record.injected_error and index == 0:
                    self.stats.faults_injected["task_error"] += 1
                    outcome = self._task_error(
                        record,
                        record.injected_error,
                        f"Injected failure: the task failed with '{record.injected_error}'.",
                    )
                    return
                result, problem = await self._produce(record, spec, index)
                if problem is not None:
                    outcome = self._task_error(
                        record, errors.UPLOAD_FAILED, f"Upload of the image failed: {problem}."
                    )
                    return
                record.results.append(result)
                self.stats.images_generated += 1
                if spec.webhook_url:
                    self.spawn(self.callbacks.webhook(spec.webhook_url, result))
        except asyncio.CancelledError:
            outcome = self._task_error(record, "emulatorReset", "The emulator was reset.")
            raise
        finally:
            self._finish(record, outcome)
            self.running -= 1
            while self.queue and self.running < self.config.max_concurrent:
                self._start(self.queue.popleft())

    async def _produce(
        self, record: TaskRecord, spec: rules.InferenceRequest, index: int
    ) -> tuple[dict[str, Any], str | None]:
        seed = record.seeds[index]
        image_uuid = str(uuid.uuid4())
        now = self.clock.now()
        lifetime = spec.ttl if spec.ttl is not None else self.config.image_retention
        self.images[image_uuid] = ImageRecord(
            image_uuid=image_uuid,
            output_format=spec.output_format,
            expires_at=now + lifetime,
            seed=seed,
            prompt=spec.positive_prompt,
            width=spec.width,
            height=spec.height,
            quality=spec.output_quality,
        )
        result: dict[str, Any] = {
            "taskType": rules.IMAGE_INFERENCE,
            "taskUUID": record.task_uuid,
            "imageUUID": image_uuid,
        }
        data: bytes | None = None
        if spec.output_type != "URL" or spec.upload_endpoint:
            data = await asyncio.to_thread(
                images.render,
                seed,
                spec.positive_prompt,
                spec.width,
                spec.height,
                spec.output_format,
                spec.output_quality,
            )
        if spec.upload_endpoint:
            assert data is not None
            problem = await self.callbacks.upload(
                spec.upload_endpoint, data, images.mime_type(spec.output_format)
            )
            if problem is not None:
                return result, problem
        if spec.output_type == "URL":
            result["imageURL"] = (
                f"{record.origin}/images/{image_uuid}.{images.extension(spec.output_format)}"
            )
        else:
            assert data is not None
            encoded = base64.b64encode(data).decode("ascii")
            if spec.output_type == "dataURI":
                result["imageDataURI"] = (
                    f"data:{images.mime_type(spec.output_format)};base64,{encoded}"
                )
            else:
                result["imageBase64Data"] = encoded
        result["seed"] = seed
        if spec.include_cost:
            result["cost"] = self.config.cost_per_image
        if spec.check_content:
            result["NSFWContent"] = bool(
                self._nsfw is not None and self._nsfw.search(spec.positive_prompt)
            )
        return result, None

    def _task_error(self, record: TaskRecord, code: str, message: str) -> dict[str, Any]:
        error = errors.error_object(
            code, message, task_type=record.task_type, task_uuid=record.task_uuid
        )
        error["status"] = ERROR
        return error

    def _finish(self, record: TaskRecord, error: dict[str, Any] | None) -> None:
        if record.finished:
            return
        record.error = error
        record.status = ERROR if error is not None else SUCCESS
        record.finished_at = self.clock.now()
        if error is None:
            self.stats.tasks_succeeded += 1
        else:
            self.stats.tasks_failed += 1
        for waiter in record.waiters:
            if not waiter.done():
                waiter.set_result(None)
        record.waiters.clear()

    # -- imageUpload -----------------------------------------------------------------------

    def _accept_upload(
        self, task: dict[str, Any], spec: rules.UploadRequest, origin: str, now: float
    ) -> TaskRecord:
        image_uuid = str(uuid.uuid4())
        data = spec.data
        fmt = "PNG"
        if data is not None:
            detected = _detect_format(data)
            if detected is None:  # GIF, BMP...: stored as PNG
                with Image.open(io.BytesIO(data)) as img:
                    data = images.encode(img.convert("RGB"), "PNG", 95)
            else:
                fmt = detected
        ext = images.extension(fmt)
        self.images[image_uuid] = ImageRecord(
            image_uuid=image_uuid,
            output_format=fmt,
            expires_at=now + UPLOAD_RETENTION,
            data=data,
            source_url=spec.image if spec.kind == "url" else None,
        )
        self.uploaded.append(image_uuid)
        while len(self.uploaded) > MAX_UPLOADED_IMAGES:
            self.images.pop(self.uploaded.popleft(), None)
        record = TaskRecord(
            task_uuid=spec.task_uuid,
            task_type=rules.IMAGE_UPLOAD,
            request=task,
            origin=origin,
            accepted_at=now,
            status=SUCCESS,
            finished_at=now,
        )
        record.results.append(
            {
                "taskType": rules.IMAGE_UPLOAD,
                "taskUUID": spec.task_uuid,
                "imageUUID": image_uuid,
                "imageURL": f"{origin}/images/{image_uuid}.{ext}",
            }
        )
        key = spec.task_uuid.lower()
        self.seen.add(key)
        self.tasks[key] = record
        self.stats.image_uploads += 1
        return record

    # -- getResponse, getTaskDetails -------------------------------------------------------

    def _lookup(
        self, request: rules.LookupRequest
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        record = self.tasks.get(request.task_uuid.lower())
        if record is None:
            return [], [
                errors.error_object(
                    errors.TASK_NOT_FOUND,
                    f"No task with taskUUID '{request.task_uuid}' was found (never submitted, "
                    "or no longer retained).",
                    parameter="taskUUID",
                    task_type=request.task_type,
                    task_uuid=request.task_uuid,
                )
            ]
        if request.task_type == rules.GET_TASK_DETAILS:
            return [self._details(record)], []
        items = [{**result, "status": SUCCESS} for result in record.results]
        if not record.finished:
            items.append(
                {"taskType": record.task_type, "taskUUID": record.task_uuid, "status": PROCESSING}
            )
        return items, [record.error] if record.error is not None else []

    def _details(self, record: TaskRecord) -> dict[str, Any]:
        wire_status = PROCESSING if record.status == QUEUED else record.status
        response = errors.envelope(
            list(record.results), [record.error] if record.error is not None else []
        )
        return {
            "taskType": rules.GET_TASK_DETAILS,
            "taskUUID": record.task_uuid,
            "status": wire_status,
            "request": record.request,
            "response": response,
        }

    # -- serving images --------------------------------------------------------------------

    def find_image(self, image_uuid: str, ext: str) -> ImageRecord | None:
        """The live image with this UUID whose format has this extension."""
        record = self.images.get(image_uuid.lower())
        if record is None or record.expires_at <= self.clock.now():
            return None
        if images.extension(record.output_format) != ext.lower():
            return None
        return record

    async def image_bytes(self, record: ImageRecord) -> bytes:
        """The encoded bytes of an image (regenerated from its recipe when not stored)."""
        if record.data is not None:
            return record.data
        if record.source_url is not None:
            return await asyncio.to_thread(images.placeholder, record.source_url)
        return await asyncio.to_thread(
            images.render,
            record.seed,
            record.prompt,
            record.width,
            record.height,
            record.output_format,
            record.quality,
        )


def _detect_format(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8"):
        return "JPG"
    if data.startswith(b"\x89PNG"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None
