"""The capacity model: concurrent generations, a bounded queue, 429 with Retry-After."""

from __future__ import annotations

import time

from airflow_provider_wan.emulator import EmulatorServer
from airflow_provider_wan.emulator.testing import image_inference_task

from .conftest import Api


def test_full_queue_answers_429_with_retry_after_and_accepts_nothing(
    api: Api, emulator: EmulatorServer
) -> None:
    emulator.configure(max_concurrent=1, queue_size=2, generation_time=0.3)
    first = [image_inference_task(deliveryMethod="async") for _ in range(3)]
    assert api.post(first).status_code == 200  # one running, two queued
    stats = emulator.stats()
    assert (stats["running"], stats["queued"]) == (1, 2)

    extra = image_inference_task(deliveryMethod="async")
    response = api.post([extra])
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    assert body["data"] == []
    assert body["errors"][0]["code"] == "queueCapacityExceeded"
    stats = emulator.stats()
    assert (stats["tasks_accepted"], stats["capacity_rejections"]) == (3, 1)
    assert api.poll(extra["taskUUID"])["errors"][0]["code"] == "taskNotFound"


def test_a_batch_that_would_overflow_is_refused_whole(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(max_concurrent=2, queue_size=3, generation_time=0.3)
    batch = [image_inference_task(deliveryMethod="async") for _ in range(6)]  # 2 + 4 > 2 + 3
    assert api.post(batch).status_code == 429
    assert emulator.stats()["tasks_accepted"] == 0
    assert api.post(batch[:5]).status_code == 200  # 2 running + 3 queued fits
    assert emulator.stats()["tasks_accepted"] == 5


def test_polls_still_work_when_the_queue_is_full(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(max_concurrent=1, queue_size=0, generation_time=0.3)
    task = image_inference_task(deliveryMethod="async")
    api.post([task])
    assert api.post([image_inference_task(deliveryMethod="async")]).status_code == 429
    response = api.post([{"taskType": "getResponse", "taskUUID": task["taskUUID"]}])
    assert response.status_code == 200


def test_queue_drains_and_accepts_again(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(max_concurrent=1, queue_size=1, generation_time=0.1)
    tasks = [image_inference_task(deliveryMethod="async") for _ in range(2)]
    api.post(tasks)
    rejected = image_inference_task(deliveryMethod="async")
    assert api.post([rejected]).status_code == 429
    api.wait_done(tasks[-1]["taskUUID"])
    assert api.post([rejected]).status_code == 200  # the UUID was never consumed


def test_at_most_max_concurrent_generate_at_once(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(max_concurrent=3, generation_time=0.2)
    tasks = [image_inference_task(deliveryMethod="async") for _ in range(9)]
    started = time.monotonic()
    api.post(tasks)
    assert emulator.stats()["running"] == 3
    for task in tasks:
        api.wait_done(task["taskUUID"])
    elapsed = time.monotonic() - started
    assert 0.55 < elapsed < 1.5  # three waves of 0.2 s


def test_jitter_spreads_generation_times(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(generation_time=0.2, generation_jitter=0.5)
    durations = []
    for _ in range(5):
        started = time.monotonic()
        api.post([image_inference_task()])
        durations.append(time.monotonic() - started)
    assert all(0.09 < d < 0.6 for d in durations)
    assert max(durations) - min(durations) > 0.02
