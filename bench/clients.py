"""The measured clients: one process per (approach, N), started by :mod:`bench.run`.

``python -m bench.clients --approach provider --count 1000 ...`` generates N images against
the emulator (through the counting proxy) and prints one JSON line with its phases
(:class:`bench.measure.PhaseResult`). Approaches:

``provider``
    This provider's path as an Airflow task runs it, with the provider's defaults (read from
    the provider, not copied: :func:`provider_settings`): every request validated
    (``parse_inference``), ``submit_planned`` with the sync client (task UUIDs derived from
    the task's identity, 50 tasks per POST, ``deliveryMethod: async``), the trigger's wait
    (``AsyncRunwareClient.wait`` with the trigger's default schedule, ``PollSchedule()``:
    1 s, x1.5, at most 5 s; ``DEFAULT_POLL_BATCH_SIZE``, 500, ``getResponse`` per POST), then
    what ``execute_complete`` does on the worker: the task UUIDs mapped back to the planned
    tasks (later generations derived only when the event needs them), the event checked, the
    finished images read with one more batched poll (``outcome.finished_images``), the
    summary built; then the storage step: ``Delivery.store_images`` (pull: ``ImagePuller``,
    8 at a time, jobs made as it goes) and the manifest, into ``file://`` and into ``gs://``
    (gcp-storage-emulator).
``provider-tuned``
    The same path with settings a DAG can give it today: the connection extra
    ``poll_batch_size`` at least N (every pending task in one poll request, the re-read too)
    and the operator's ``max_poll_interval=1`` (a poll every second). Generation only.
``per-image``
    What a DAG of ``HttpOperator`` + ``HttpSensor`` per image does, with plain httpx: one
    POST per image (``deliveryMethod: async``), then a sensor per image that pokes at once and
    every ``--poke-interval`` seconds (HttpSensor's ``poke_interval``) with a one-task
    ``getResponse``. Every image's operator and sensor run concurrently (as many parallel
    task instances as images, the best case for this approach), at most 100 requests in
    flight, each on a new connection (``HttpHook.run()`` opens a new session per call).
``sdk``
    Runware's official SDK (``runware-sdk``), REST transport with ``http_base_url`` pointed
    at the emulator: ``await asyncio.gather(*(runware.run(task) for task in tasks))``, the
    SDK's own default delivery (``async``) and polling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_wan.api.submission import planned_by_uuid
from bench.measure import PhaseResult, Probe

if TYPE_CHECKING:  # imported where used: the other approaches' processes do without them
    from airflow_provider_wan.api.submission import PlannedTask
    from airflow_provider_wan.api.tracking import PollSchedule

KEY = "bench-key"  # bench/emulator_throughput.py starts the emulator with this key
MODEL = "alibaba:wan@2.6-image"
APPROACHES = ("provider", "provider-tuned", "per-image", "sdk")


def wire_task(index: int, args: argparse.Namespace) -> dict[str, Any]:
    """The same imageInference task for every approach (without taskUUID/deliveryMethod)."""
    return {
        "taskType": "imageInference",
        "model": MODEL,
        "positivePrompt": f"benchmark image {index}, a ceramic mug on a walnut table",
        "width": args.width,
        "height": args.height,
        "outputFormat": args.format,
        "includeCost": True,
    }


# -- this provider ---------------------------------------------------------------------------


def provider_settings(count: int, *, tuned: bool) -> tuple[PollSchedule, int]:
    """The poll schedule and ``getResponse`` tasks per request of "provider" / "provider-tuned".

    "provider" takes the provider's own defaults: ``PollSchedule()`` is the schedule of
    ``WanImageResultsTrigger`` and of the operator's default ``poll_interval`` and
    ``max_poll_interval``, and ``DEFAULT_POLL_BATCH_SIZE`` that of the client and of the
    connection (tests/bench pins both). "provider-tuned" is what the operator's
    ``poll_interval=1, max_poll_interval=1`` and the extra ``poll_batch_size`` >= N give.
    """
    from airflow_provider_wan.api.client import DEFAULT_POLL_BATCH_SIZE
    from airflow_provider_wan.api.tracking import PollSchedule

    if not tuned:
        return PollSchedule(), DEFAULT_POLL_BATCH_SIZE
    return PollSchedule(initial_delay=1.0, max_delay=1.0), max(count, DEFAULT_POLL_BATCH_SIZE)


def run_provider(args: argparse.Namespace, probe: Probe, *, tuned: bool) -> list[PhaseResult]:
    from airflow_provider_wan.api import AsyncRunwareClient, RunwareClient
    from airflow_provider_wan.api.inference import ImageInference
    from airflow_provider_wan.api.submission import PlannedTask, submit_planned
    from airflow_provider_wan.api.tracking import ResultsTracker
    from airflow_provider_wan.api.validation import parse_inference
    from airflow_provider_wan.outcome import (
        ProgressLog,
        TaskRef,
        check_event,
        finished_images,
        results_event,
        summarize,
    )

    run_id = f"bench__{uuid.uuid4().hex[:12]}"
    schedule, poll_batch_size = provider_settings(args.count, tuned=tuned)
    # What the hook builds both clients with from the connection (its extra poll_batch_size).
    connection: dict[str, Any] = {"base_url": args.api_url, "poll_batch_size": poll_batch_size}

    def prepare(item: PlannedTask, task: ImageInference) -> ImageInference:
        return task.model_copy(update={"delivery_method": "async"})

    progress = ProgressLog(logging.getLogger("bench"))  # what the trigger logs with
    polls: list[tuple[float, int]] = []  # (seconds since the start, images known)

    def on_update(tracker: ResultsTracker, new: int) -> None:
        progress(tracker, new)
        polls.append((round(time.perf_counter() - started, 2), tracker.image_count))

    async def wait(expected: Mapping[str, int | None]) -> ResultsTracker:
        async with AsyncRunwareClient(KEY, **connection) as client:
            return await client.wait(
                expected, timeout=args.timeout, schedule=schedule, on_update=on_update
            )

    phases = []
    started = time.perf_counter()
    with probe.phase("generate") as phase:
        started = time.perf_counter()
        planned = []
        for index in range(args.count):
            task = parse_inference(wire_task(index, args), index=index)
            identity = ("wan_bench", run_id, "generate", -1, f"item-{index:05d}", 0)
            planned.append(PlannedTask(identity, task))
        with RunwareClient(KEY, **connection) as client:
            submission = submit_planned(client, planned, prepare=prepare)
        expected = {submission.uuids[item.identity]: item.task.expected_images for item in planned}
        phase.extra["submitted_at"] = round(time.perf_counter() - started, 2)
        tracker = asyncio.run(wait(expected))
        event = results_event(tracker)
        # execute_complete: the event's task UUIDs mapped back to the planned tasks, the
        # event checked, the images read.
        by_uuid = planned_by_uuid(planned, event["task_uuids"])
        refs = {
            task_uuid: TaskRef(str(item.identity[4]), item.task.expected_images, 0)
            for task_uuid, item in by_uuid.items()
        }
        checked = check_event(event, refs, count=len(planned))
        with RunwareClient(KEY, **connection) as client:
            images = finished_images(client, checked)  # one batched poll, on the worker
        summary = summarize(checked, refs, images)
        inline = {image.image_uuid: image for image in images if image.has_inline_data}
        phase.images = len(summary["images"])
        phase.extra["failed"] = len(summary["failures"])
    phase.extra["polls"] = polls
    phase.extra["settings"] = {
        "poll_batch_size": poll_batch_size,
        "initial_delay": schedule.initial_delay,
        "multiplier": schedule.multiplier,
        "max_delay": schedule.max_delay,
    }
    phases.append(phase)
    if tuned or not args.pull:
        return phases

    # The storage step (after the trigger's event, on the worker). Importing delivery imports
    # Airflow (hooks/storage.py), outside the measured phases.
    from airflow_provider_wan.delivery import Delivery
    from airflow_provider_wan.storage import ImageLine
    from airflow_provider_wan.storage.gcs import GcsStore, create_gcs_client
    from airflow_provider_wan.storage.local import LocalStore

    origin = str(httpx.URL(args.api_url).copy_with(path="/", query=None)).rstrip("/")
    destinations = {
        "file": f"file://{Path(args.workdir).resolve()}/{run_id}/{{item_key}}-{{index}}.{{ext}}",
        "gs": f"gs://{args.gcs_bucket}/{run_id}/{{item_key}}-{{index}}.{{ext}}",
    }
    for scheme, destination in destinations.items():
        if scheme == "gs" and not args.gcs_bucket:
            continue
        delivery = Delivery(destination=destination, trusted_origins=(origin,))
        with probe.phase(f"pull-{scheme}") as phase:
            store = GcsStore(create_gcs_client()) if scheme == "gs" else LocalStore()
            with store:
                delivered = delivery.store_images(store, summary["images"], by_uuid, inline)
                delivery.write_manifest(store, delivery.manifest_uri(run_id), delivered.lines)
            phase.images = len(delivered.uris)
            phase.extra["failed"] = len(delivered.failures)
            phase.extra["stored_bytes"] = sum(
                line.size for line in delivered.lines if isinstance(line, ImageLine)
            )
        phases.append(phase)
    return phases


# -- one POST and one sensor per image -------------------------------------------------------


async def _per_image(args: argparse.Namespace) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {KEY}"}
    # HttpHook.run() opens a new requests.Session per call: no connection is reused.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    in_flight = asyncio.Semaphore(args.parallel_requests)
    async with httpx.AsyncClient(
        headers=headers, limits=limits, timeout=httpx.Timeout(120), trust_env=False
    ) as http:

        async def post(body: list[dict[str, Any]]) -> dict[str, Any]:
            async with in_flight:
                response = await http.post(args.api_url, json=body)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

        async def operator(index: int) -> str:
            task_uuid = str(uuid.uuid4())
            await post(
                [{**wire_task(index, args), "taskUUID": task_uuid, "deliveryMethod": "async"}]
            )
            return task_uuid

        async def sensor(task_uuid: str) -> list[dict[str, Any]]:
            while True:
                body = await post([{"taskType": "getResponse", "taskUUID": task_uuid}])
                if body.get("errors"):
                    raise RuntimeError(f"task {task_uuid} failed: {body['errors']}")
                items = body.get("data", [])
                if items and all(item.get("status") == "success" for item in items):
                    return list(items)
                await asyncio.sleep(args.poke_interval)

        async def one(index: int) -> list[dict[str, Any]]:
            return await sensor(await operator(index))

        groups = await asyncio.gather(*(one(index) for index in range(args.count)))
    return [image for group in groups for image in group]


def run_per_image(args: argparse.Namespace, probe: Probe) -> list[PhaseResult]:
    with probe.phase("generate") as phase:
        images = asyncio.run(_per_image(args))
        phase.images = len({image["imageUUID"] for image in images})
    return [phase]


# -- Runware's SDK ---------------------------------------------------------------------------


async def _sdk(args: argparse.Namespace) -> list[dict[str, Any]]:
    from runware import Runware  # imported before the phase, by run_sdk

    async with Runware(api_key=KEY, transport="rest", http_base_url=args.api_url) as runware:
        groups = await asyncio.gather(
            *(runware.run(wire_task(index, args)) for index in range(args.count))
        )
    return [dict(image) for group in groups for image in group]


def run_sdk(args: argparse.Namespace, probe: Probe) -> list[PhaseResult]:
    import runware  # noqa: F401 - the import's time and memory are not the run's

    with probe.phase("generate") as phase:
        images = asyncio.run(_sdk(args))
        phase.images = len({image["imageUUID"] for image in images})
    return [phase]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One measured client run (see bench.run).")
    parser.add_argument("--approach", choices=APPROACHES, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--api-url", required=True, help="the emulator's /v1, via the proxy")
    parser.add_argument("--emulator-root", required=True, help="the emulator itself")
    parser.add_argument("--control", required=True, help="host:port of the proxies' counters")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--format", default="JPG")
    parser.add_argument("--poke-interval", type=float, default=5.0)
    parser.add_argument("--parallel-requests", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--pull", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--workdir", default=".")
    parser.add_argument("--gcs-bucket", default="")
    args = parser.parse_args(argv)
    host, port = args.control.rsplit(":", 1)
    probe = Probe(args.emulator_root, (host, int(port)))
    try:
        if args.approach in ("provider", "provider-tuned"):
            phases = run_provider(args, probe, tuned=args.approach == "provider-tuned")
        elif args.approach == "per-image":
            phases = run_per_image(args, probe)
        else:
            phases = run_sdk(args, probe)
    finally:
        probe.close()
    print(json.dumps({"phases": [phase.as_dict() for phase in phases]}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
