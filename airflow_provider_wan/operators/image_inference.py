"""Submit Wan2.6 image generations in batches, wait in the triggerer, return a summary."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, Context, conf
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_wan.api.errors import InvalidRequestError, Problem
from airflow_provider_wan.api.inference import ImageInference
from airflow_provider_wan.api.results import ImageResult
from airflow_provider_wan.api.submission import (
    PlannedTask,
    Preparer,
    Submission,
    planned_by_uuid,
    submit_planned,
)
from airflow_provider_wan.api.tracking import PollSchedule
from airflow_provider_wan.api.validation import parse_inference
from airflow_provider_wan.api.wire import deep_merge
from airflow_provider_wan.delivery import (
    Delivery,
    UploadMode,
    failure_lines,
    item_key_of,
    result_index_of,
)
from airflow_provider_wan.hooks.runware import RunwareHook
from airflow_provider_wan.outcome import (
    ProgressLog,
    TaskRef,
    check_event,
    enforce_failure_policy,
    finished_images,
    known_failures,
    results_event,
    summarize,
)
from airflow_provider_wan.storage import InvalidDestinationError, NameCollisionError, ObjectStore
from airflow_provider_wan.triggers.image_results import WanImageResultsTrigger

ITEM_KEY = "item_key"
"""The key of a request dict that names its item; it is not sent to Runware."""

# Airflow's own deferral timeout is a safety net behind the trigger's deadline, which fires a
# readable "timeout" event first.
_DEFERRAL_GRACE = timedelta(minutes=5)


def _seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class WanImageInferenceOperator(BaseOperator):
    """Generate images with Runware's Wan2.6 Image model (``alibaba:wan@2.6-image``).

    Describe one request with the plain arguments, or many with ``requests`` (the plain
    arguments then act as defaults under each request). Every request is validated before
    anything is sent; task UUIDs derive from (dag, run, task, map index, item key), so a retry
    polls what was already accepted instead of paying again, and redoes only what failed.
    Submission is batched (many tasks per HTTP request, ``deliveryMethod: async``); the wait
    happens in one trigger for all tasks (``deferrable=True``) or on the worker.

    Returns (XCom) a JSON-native summary: per image the item key, index, task UUID, image UUID,
    URL (with URL output), seed, cost and NSFW flag; the failures with codes and messages; and
    totals of tasks, images, failures and cost. Inline image data never goes to XCom.

    :param prompt: the positive prompt, 1 to 2100 characters. (templated)
    :param negative_prompt: what to avoid, 1 to 500 characters. (templated)
    :param width: image width in pixels; see the size rule. (templated)
    :param height: image height in pixels; width x height between 589,824 and 2,073,600
        pixels, aspect ratio between 1:4 and 4:1. (templated)
    :param reference_images: 1 to 4 image UUIDs, URLs, data URIs or base64 strings. (templated)
    :param number_results: images per request, 1 to 20. (templated)
    :param output_type: ``URL`` (default), ``dataURI`` or ``base64Data``. (templated)
    :param output_format: ``JPG`` (default), ``PNG`` or ``WEBP``. (templated)
    :param output_quality: 20 to 99 (Runware's default is 95). (templated)
    :param check_content: run Runware's content check and report ``NSFWContent``.
    :param prompt_extend: let Alibaba rewrite the prompt (Runware's default: on; off makes
        results reproducible).
    :param ttl: seconds the image URLs stay valid (at least 60; URL output only).
    :param include_cost: ask Runware for each image's cost (on by default, for the summary).
    :param requests: many requests: wire-shaped dicts (``positivePrompt``, ``width``...) or
        :class:`~airflow_provider_wan.api.ImageInference` models; a dict may carry an
        ``item_key`` naming its item (default: its index). (templated)
    :param runware_conn_id: the Runware connection. (templated)
    :param deferrable: wait in the triggerer (default from ``[operators] default_deferrable``).
    :param wait_for_completion: wait for the images; with False, return the submitted task
        UUIDs at once, for a downstream ``WanImageResultsSensor``.
    :param timeout: how long to wait for every image (a timedelta or seconds).
    :param poll_interval: seconds before the first poll; about one generation time.
    :param max_poll_interval: the longest wait between two polls.
    :param allow_failures: failed tasks to tolerate: a count, or a share of the tasks as a
        float below 1 (``0.05``). Tolerated failures are listed in the summary.
    :param destination: where to store every image: a ``gs://``, ``s3://`` or ``file://`` URI
        template with per-image fields ``{item_key}``, ``{index}``, ``{image_uuid}``,
        ``{task_uuid}``, ``{seed}``, ``{ext}`` (and Jinja for run fields). Without it, images
        stay on Runware's URLs. (templated)
    :param upload_mode: ``pull`` (the worker streams and verifies each image) or ``push``
        (Runware PUTs each image to a presigned URL; requests are split into one task per image).
    :param gcp_conn_id: the Google Cloud connection for ``gs://`` destinations.
    :param aws_conn_id: the AWS connection for ``s3://`` destinations.
    """

    template_fields: Sequence[str] = (
        "prompt",
        "negative_prompt",
        "width",
        "height",
        "reference_images",
        "number_results",
        "output_type",
        "output_format",
        "output_quality",
        "requests",
        "runware_conn_id",
        "destination",
    )
    template_fields_renderers = {"requests": "json", "reference_images": "json"}
    ui_color = "#e8f0ff"

    def __init__(
        self,
        *,
        prompt: str | None = None,
        negative_prompt: str | None = None,
        width: int | str | None = None,
        height: int | str | None = None,
        reference_images: list[str] | None = None,
        number_results: int | str | None = None,
        output_type: str | None = None,
        output_format: str | None = None,
        output_quality: int | str | None = None,
        check_content: bool | None = None,
        prompt_extend: bool | None = None,
        ttl: int | None = None,
        include_cost: bool = True,
        requests: Sequence[Mapping[str, Any] | ImageInference] | None = None,
        runware_conn_id: str = RunwareHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        wait_for_completion: bool = True,
        timeout: timedelta | float = timedelta(hours=1),
        poll_interval: float = 1.0,
        max_poll_interval: float = 5.0,
        allow_failures: int | float = 0,
        destination: str | None = None,
        upload_mode: UploadMode = "pull",
        gcp_conn_id: str = "google_cloud_default",
        aws_conn_id: str = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.destination = destination
        self.upload_mode = upload_mode
        self.gcp_conn_id = gcp_conn_id
        self.aws_conn_id = aws_conn_id
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.width = width
        self.height = height
        self.reference_images = reference_images
        self.number_results = number_results
        self.output_type = output_type
        self.output_format = output_format
        self.output_quality = output_quality
        self.check_content = check_content
        self.prompt_extend = prompt_extend
        self.ttl = ttl
        self.include_cost = include_cost
        self.requests = requests
        self.runware_conn_id = runware_conn_id
        self.deferrable = deferrable
        self.wait_for_completion = wait_for_completion
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.allow_failures = allow_failures

    @cached_property
    def hook(self) -> RunwareHook:
        """The Runware hook of ``runware_conn_id``."""
        return RunwareHook(runware_conn_id=self.runware_conn_id)

    # --- building the requests ------------------------------------------------------------

    def _defaults(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {
            "positivePrompt": self.prompt,
            "negativePrompt": self.negative_prompt,
            "width": self.width,
            "height": self.height,
            "numberResults": self.number_results,
            "outputType": self.output_type,
            "outputFormat": self.output_format,
            "outputQuality": self.output_quality,
            "ttl": self.ttl,
            "includeCost": self.include_cost,
        }
        if self.reference_images:
            defaults["inputs"] = {"referenceImages": list(self.reference_images)}
        if self.check_content is not None:
            defaults["safety"] = {"checkContent": self.check_content}
        if self.prompt_extend is not None:
            defaults["providerSettings"] = {"alibaba": {"promptExtend": self.prompt_extend}}
        return {key: value for key, value in defaults.items() if value is not None}

    def build_requests(self) -> list[tuple[str, ImageInference]]:
        """Every request as (item key, validated model), before anything is sent.

        :raises InvalidRequestError: naming the request's index, the field, value and rule.
        """
        defaults = self._defaults()
        raw: Sequence[Mapping[str, Any] | ImageInference] = (
            self.requests if self.requests is not None else [{}]
        )
        if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Sequence):
            raise InvalidRequestError(
                [Problem("requests", repr(raw)[:60], "must be a list of requests")]
            )
        built: list[tuple[str, ImageInference]] = []
        seen: dict[str, int] = {}
        for index, request in enumerate(raw):
            if isinstance(request, ImageInference):
                request = request.to_wire()
            if not isinstance(request, Mapping):
                raise InvalidRequestError(
                    [Problem("request", repr(request)[:60], "must be an object")], index=index
                )
            body = dict(request)
            item_key = str(body.pop(ITEM_KEY, index))
            if item_key in seen:
                raise InvalidRequestError(
                    [Problem(ITEM_KEY, item_key, f"already used by request {seen[item_key]}")],
                    index=index,
                )
            seen[item_key] = index
            body.pop("taskUUID", None)  # UUIDs are derived, never taken from input
            built.append((item_key, parse_inference(deep_merge(defaults, body), index=index)))
        return built

    def plan(self, context: Context) -> list[PlannedTask]:
        """The planned tasks, each with the identity its task UUIDs derive from.

        The identity is (dag, run, task, map index, item key, result index). In push mode a
        request for n images becomes n single-image tasks (one upload URL each).
        """
        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        base = (ti.dag_id, ti.run_id, ti.task_id, map_index)
        try:
            requests = self.build_requests()
        except InvalidRequestError as error:
            # Bad input does not get better by retrying: fail now, spend nothing.
            raise AirflowFailException(str(error)) from error
        try:
            delivery = self.delivery
        except InvalidDestinationError as error:
            raise AirflowFailException(f"destination: {error}") from error
        if delivery is None or delivery.upload_mode == "pull":
            return [PlannedTask((*base, key, 0), task) for key, task in requests]
        single = {"number_results": 1}
        return [
            PlannedTask((*base, key, n), task.model_copy(update=single))
            for key, task in requests
            for n in range(task.expected_images)
        ]

    @cached_property
    def delivery(self) -> Delivery | None:
        """Where the images go, when ``destination`` is set (validated on first use)."""
        if not self.destination:
            return None
        delivery = Delivery(
            destination=self.destination,
            upload_mode=self.upload_mode,
            gcp_conn_id=self.gcp_conn_id,
            aws_conn_id=self.aws_conn_id,
            trusted_origins=(self.hook.get_settings().image_origin,),
        )
        delivery.template  # noqa: B018 - validate the template now, before any spend
        return delivery

    # --- running --------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        planned = self.plan(context)
        store = self._check_destination(planned)
        try:
            submission = submit_planned(self.hook.client, planned, prepare=self._preparer(store))
        finally:
            if store is not None:
                store.close()
        self._log_submission(submission)
        failed = {
            uuid: {"code": e.code, "message": e.message} for uuid, e in submission.rejected.items()
        }
        expected = {
            submission.uuids[item.identity]: item.task.expected_images
            for item in planned
            if submission.uuids[item.identity] not in failed
        }
        if not self.wait_for_completion:
            keys = {submission.uuids[item.identity]: item_key_of(item) for item in planned}
            return {
                "task_uuids": list(expected),
                "expected_images": expected,
                "item_keys": keys,
                "rejected": failed,
            }
        deadline = time.time() + _seconds(self.timeout)
        if self.deferrable and expected:
            self.defer(
                trigger=WanImageResultsTrigger(
                    runware_conn_id=self.runware_conn_id,
                    expected_images=expected,
                    deadline=deadline,
                    poll_interval=self.poll_interval,
                    max_poll_interval=self.max_poll_interval,
                    failed=failed,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=_seconds(self.timeout)) + _DEFERRAL_GRACE,
            )
        tracker = self.hook.client.wait(
            expected,
            deadline=deadline,
            schedule=PollSchedule(
                initial_delay=self.poll_interval, max_delay=self.max_poll_interval
            ),
            on_update=ProgressLog(self.log),
            failed=known_failures(failed),
        )
        return self._complete(planned, results_event(tracker), tracker.images())

    def _check_destination(self, planned: Sequence[PlannedTask]) -> ObjectStore | None:
        """Check the names of every image before submission; open the store for push mode."""
        if self.delivery is None or not planned:
            return None
        try:
            self.delivery.check_names(planned, run_id=str(planned[0].identity[1]))
        except NameCollisionError as error:
            raise AirflowFailException(f"destination: {error}") from error
        return self.delivery.open_store() if self.delivery.upload_mode == "push" else None

    def _preparer(self, store: ObjectStore | None) -> Preparer:
        delivery = self.delivery

        def prepare(item: PlannedTask, task: ImageInference) -> ImageInference:
            task = task.model_copy(update={"delivery_method": "async"})
            if store is not None and delivery is not None:
                task = delivery.presign(store, item, task)
            return task

        return prepare

    def _log_submission(self, submission: Submission) -> None:
        self.log.info(
            "Runware holds %d task(s): %d submitted now, %d already submitted before (not paid "
            "again), %d redone after a failure, %d refused",
            len(submission.uuids) - len(submission.rejected),
            len(submission.accepted),
            len(submission.reused),
            len(submission.regenerated),
            len(submission.rejected),
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Check the trigger's event and turn it into the XCom summary.

        :raises TaskFailedError: when more tasks failed than ``allow_failures`` tolerates.
        """
        return self._complete(self.plan(context), event)

    def _complete(
        self,
        planned: Sequence[PlannedTask],
        event: Mapping[str, Any] | None,
        images: Sequence[ImageResult] | None = None,
    ) -> dict[str, Any]:
        by_uuid = planned_by_uuid(planned, (event or {}).get("task_uuids") or [])
        refs = {
            uuid: TaskRef(item_key_of(item), item.task.expected_images, result_index_of(item))
            for uuid, item in by_uuid.items()
        }
        checked = check_event(event, refs, count=len(planned))
        if images is None:
            images = finished_images(self.hook.client, checked)
        summary = summarize(checked, refs, images)
        if self.delivery is not None and planned:
            inline = {image.image_uuid: image for image in images if image.has_inline_data}
            self._deliver(summary, by_uuid, planned[0], inline)
        else:
            enforce_failure_policy(summary, self.allow_failures)
        totals = summary["totals"]
        self.log.info(
            "Done: %d image(s) from %d task(s), %d failed, %.2f USD",
            totals["images"],
            totals["tasks"],
            totals["failed"],
            totals["cost"],
        )
        return summary

    def _deliver(
        self,
        summary: dict[str, Any],
        by_uuid: Mapping[str, PlannedTask],
        first: PlannedTask,
        inline: Mapping[str, ImageResult],
    ) -> None:
        """Store every image, apply the failure policy, then write the manifest, last."""
        delivery = self.delivery
        if delivery is None:
            return
        store = delivery.open_store()
        try:
            delivered = delivery.store_images(store, summary["images"], by_uuid, inline)
            for image in summary["images"]:
                image["uri"] = delivered.uris.get(image["image_uuid"])
            summary["failures"] += delivered.failures
            summary["totals"]["failed"] = len(summary["failures"])
            summary["totals"]["stored"] = len(delivered.uris)
            enforce_failure_policy(summary, self.allow_failures)
            lines = [*delivered.lines, *failure_lines(summary["failures"], runware_only=True)]
            uri = delivery.manifest_uri(str(first.identity[1]), int(first.identity[3]))
            summary["manifest"] = delivery.write_manifest(store, uri, lines)
        finally:
            store.close()
        self.log.info("Stored %d image(s); manifest: %s", len(delivered.uris), summary["manifest"])
