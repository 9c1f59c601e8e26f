"""Delivery: sync results, async acknowledgement and getResponse polling, conflicts, details."""

from __future__ import annotations

import time

from airflow_provider_wan.emulator import EmulatorServer
from airflow_provider_wan.emulator.testing import image_inference_task, new_task_uuid

from .conftest import Api

RESULT_KEYS = {"taskType", "taskUUID", "imageUUID", "imageURL", "seed"}


def test_sync_is_the_default_and_answers_with_results(api: Api) -> None:
    task = image_inference_task()
    started = time.monotonic()
    response = api.post([task])
    assert response.status_code == 200
    [result] = response.json()["data"]
    assert set(result) == RESULT_KEYS
    assert result["taskType"] == "imageInference"
    assert result["taskUUID"] == task["taskUUID"]
    assert result["imageUUID"] != task["taskUUID"]
    assert isinstance(result["seed"], int)
    assert "errors" not in response.json()
    assert time.monotonic() - started >= 0.02  # waited for the generation


def test_sync_multi_image_task_returns_one_object_per_image(api: Api) -> None:
    task = image_inference_task(numberResults=4, deliveryMethod="sync")
    results = api.post([task]).json()["data"]
    assert len(results) == 4
    assert {r["taskUUID"] for r in results} == {task["taskUUID"]}
    assert len({r["imageUUID"] for r in results}) == 4
    assert len({r["seed"] for r in results}) == 4


def test_async_acknowledges_at_once(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(generation_time=5.0)
    task = image_inference_task(deliveryMethod="async")
    started = time.monotonic()
    response = api.post([task])
    assert time.monotonic() - started < 1.0
    assert response.status_code == 200
    assert response.json() == {
        "data": [{"taskType": "imageInference", "taskUUID": task["taskUUID"]}]
    }


def test_get_response_reports_processing_then_success(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(generation_time=0.3)
    task = image_inference_task(deliveryMethod="async")
    api.post([task])
    first = api.poll(task["taskUUID"])
    assert first == {
        "data": [
            {"taskType": "imageInference", "taskUUID": task["taskUUID"], "status": "processing"}
        ]
    }
    done = api.wait_done(task["taskUUID"])
    [item] = done["data"]
    assert item["status"] == "success"
    assert set(item) == RESULT_KEYS | {"status"}


def test_partial_results_of_a_multi_image_task_are_cumulative(
    api: Api, emulator: EmulatorServer
) -> None:
    emulator.configure(generation_time=0.4)
    task = image_inference_task(numberResults=3, deliveryMethod="async")
    api.post([task])
    time.sleep(0.6)  # one image done (at 0.4 s), the second in progress (due at 0.8 s)
    partial = api.poll(task["taskUUID"])["data"]
    statuses = [item["status"] for item in partial]
    assert statuses == ["success", "processing"], partial
    first_image = partial[0]["imageUUID"]
    time.sleep(0.4)  # now at 1.0 s: two images done, the third due at 1.2 s
    later = api.poll(task["taskUUID"])["data"]
    assert [item["status"] for item in later] == ["success", "success", "processing"]
    assert later[0]["imageUUID"] == first_image  # cumulative, same image again
    final = api.wait_done(task["taskUUID"])["data"]
    assert [item["status"] for item in final] == ["success"] * 3
    assert final[0]["imageUUID"] == first_image
    assert len({item["imageUUID"] for item in final}) == 3
    assert len({item["seed"] for item in final}) == 3


def test_many_get_response_tasks_share_one_request(api: Api) -> None:
    tasks = [image_inference_task(deliveryMethod="async", numberResults=2) for _ in range(10)]
    api.post(tasks)
    for task in tasks:
        api.wait_done(task["taskUUID"])
    body = api.poll(*(t["taskUUID"] for t in tasks))
    assert len(body["data"]) == 20
    for task in tasks:
        mine = [item for item in body["data"] if item["taskUUID"] == task["taskUUID"]]
        assert len(mine) == 2
        assert all(item["status"] == "success" for item in mine)


def test_get_response_for_an_unknown_task_is_task_not_found(api: Api) -> None:
    unknown = new_task_uuid()
    response = api.post([{"taskType": "getResponse", "taskUUID": unknown}])
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["code"] == "taskNotFound"
    assert error["taskUUID"] == unknown


def test_get_response_mixes_known_and_unknown(api: Api) -> None:
    task = image_inference_task()
    api.post([task])
    unknown = new_task_uuid()
    response = api.post(
        [
            {"taskType": "getResponse", "taskUUID": task["taskUUID"]},
            {"taskType": "getResponse", "taskUUID": unknown},
        ]
    )
    assert response.status_code == 200
    body = response.json()
    assert [item["taskUUID"] for item in body["data"]] == [task["taskUUID"]]
    assert [error["taskUUID"] for error in body["errors"]] == [unknown]


def test_sync_results_can_also_be_polled(api: Api) -> None:
    task = image_inference_task(numberResults=2)
    sync_results = api.post([task]).json()["data"]
    polled = api.poll(task["taskUUID"])["data"]
    assert [p["imageUUID"] for p in polled] == [s["imageUUID"] for s in sync_results]


def test_reused_task_uuid_is_a_conflict_not_a_new_generation(
    api: Api, emulator: EmulatorServer
) -> None:
    task = image_inference_task(deliveryMethod="async")
    api.post([task])
    again = api.post([task])
    assert again.status_code == 400
    [error] = again.json()["errors"]
    assert error["code"] == "conflictTaskUUID"
    assert error["taskUUID"] == task["taskUUID"]
    assert error["context"]["deliveryMethod"] == "async"
    # Even with different parameters, the UUID is taken.
    changed = api.post([dict(task, positivePrompt="something else")])
    assert changed.json()["errors"][0]["code"] == "conflictTaskUUID"
    stats = emulator.stats()
    assert stats["tasks_accepted"] == 1
    assert stats["duplicate_submissions"] == 2
    done = api.wait_done(task["taskUUID"])
    assert len(done["data"]) == 1


def test_duplicate_uuid_inside_one_request(api: Api, emulator: EmulatorServer) -> None:
    task = image_inference_task(deliveryMethod="async")
    body = api.post([task, dict(task)]).json()
    assert body["data"] == [{"taskType": "imageInference", "taskUUID": task["taskUUID"]}]
    assert body["errors"][0]["code"] == "conflictTaskUUID"
    assert emulator.stats()["duplicate_submissions"] == 1


def test_upload_task_uuid_conflicts_too(api: Api) -> None:
    from .test_validation import PNG_B64

    task = {"taskType": "imageUpload", "taskUUID": new_task_uuid(), "image": PNG_B64}
    assert api.post([task]).status_code == 200
    assert api.post([task]).json()["errors"][0]["code"] == "conflictTaskUUID"


def test_rejected_task_does_not_consume_its_uuid(api: Api) -> None:
    task = image_inference_task(width=10)
    assert api.post([task]).status_code == 400
    fixed = dict(task, width=1024)
    assert api.post([fixed]).status_code == 200


def test_queued_task_reports_processing(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(max_concurrent=1, generation_time=0.5)
    running = image_inference_task(deliveryMethod="async")
    waiting = image_inference_task(deliveryMethod="async")
    api.post([running, waiting])
    stats = emulator.stats()
    assert (stats["running"], stats["queued"], stats["in_flight"]) == (1, 1, 2)
    assert api.poll(waiting["taskUUID"])["data"] == [
        {"taskType": "imageInference", "taskUUID": waiting["taskUUID"], "status": "processing"}
    ]


def test_get_task_details_returns_request_and_response(api: Api) -> None:
    task = image_inference_task(numberResults=2, includeCost=True)
    results = api.post([task]).json()["data"]
    response = api.post([{"taskType": "getTaskDetails", "taskUUID": task["taskUUID"]}])
    assert response.status_code == 200
    [details] = response.json()["data"]
    assert details["taskType"] == "getTaskDetails"
    assert details["taskUUID"] == task["taskUUID"]
    assert details["status"] == "success"
    assert details["request"] == task
    assert details["response"]["data"] == results


def test_image_upload_returns_an_image_uuid_and_url(api: Api) -> None:
    from .test_validation import PNG_DATA_URI

    task = {"taskType": "imageUpload", "taskUUID": new_task_uuid(), "image": PNG_DATA_URI}
    response = api.post([task])
    assert response.status_code == 200
    [item] = response.json()["data"]
    assert item["taskType"] == "imageUpload"
    assert item["taskUUID"] == task["taskUUID"]
    assert item["imageUUID"] != task["taskUUID"]
    image = api.http.get(item["imageURL"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    details = api.post([{"taskType": "getTaskDetails", "taskUUID": task["taskUUID"]}])
    assert details.json()["data"][0]["request"] == task
