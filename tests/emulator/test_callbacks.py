"""uploadEndpoint (PUT of the raw bytes) and webhookURL (one POST per result, retried)."""

from __future__ import annotations

import io
import itertools
import json
import time
from collections.abc import Callable

from PIL import Image

from airflow_provider_wan.emulator import EmulatorServer
from airflow_provider_wan.emulator.testing import LocalSink, image_inference_task

from .conftest import Api

SinkFactory = Callable[..., LocalSink]


def test_upload_puts_the_image_bytes_before_success(
    api: Api, emulator: EmulatorServer, sink_factory: SinkFactory
) -> None:
    sink = sink_factory()
    task = image_inference_task(
        uploadEndpoint=f"{sink.url}/bucket/object.webp?X-Signature=secret",
        outputFormat="WEBP",
        width=1024,
        height=576,
    )
    response = api.post([task])
    assert response.status_code == 200
    [result] = response.json()["data"]
    [put] = sink.requests
    assert put.method == "PUT"
    assert put.path == "/bucket/object.webp?X-Signature=secret"
    assert put.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(put.body)) as image:
        assert (image.format, image.size) == ("WEBP", (1024, 576))
    # The uploaded bytes are the image the URL serves.
    assert api.http.get(result["imageURL"]).content == put.body
    stats = emulator.stats()
    assert (stats["uploads_made"], stats["uploads_failed"]) == (1, 0)


def test_async_upload_happens_before_the_result_is_reported(
    api: Api, sink_factory: SinkFactory
) -> None:
    sink = sink_factory()
    task = image_inference_task(deliveryMethod="async", uploadEndpoint=f"{sink.url}/o.jpg")
    api.post([task])
    done = api.wait_done(task["taskUUID"])
    assert done["data"][0]["status"] == "success"
    assert len(sink.requests) == 1


def test_upload_non_2xx_fails_the_task_with_upload_failed(
    api: Api, emulator: EmulatorServer, sink_factory: SinkFactory
) -> None:
    sink = sink_factory(default_status=403)
    task = image_inference_task(deliveryMethod="async", uploadEndpoint=f"{sink.url}/o.jpg")
    api.post([task])
    body = api.wait_done(task["taskUUID"])
    assert body["data"] == []
    [error] = body["errors"]
    assert error["code"] == "uploadFailed"
    assert error["status"] == "error"
    assert error["taskUUID"] == task["taskUUID"]
    assert "403" in error["message"]
    assert sink.url not in error["message"]  # a presigned URL is a secret
    stats = emulator.stats()
    assert (stats["uploads_made"], stats["uploads_failed"]) == (1, 1)


def test_upload_to_a_dead_endpoint_fails_the_sync_task(api: Api, sink_factory: SinkFactory) -> None:
    sink = sink_factory(close_connection=True)
    task = image_inference_task(uploadEndpoint=f"{sink.url}/o.jpg")
    response = api.post([task])
    assert response.status_code == 200  # the request was fine; the task failed
    body = response.json()
    assert body["data"] == []
    assert body["errors"][0]["code"] == "uploadFailed"
    assert body["errors"][0]["status"] == "error"


def test_upload_to_a_remote_host_fails_without_traffic(api: Api, emulator: EmulatorServer) -> None:
    task = image_inference_task(uploadEndpoint="https://bucket.s3.amazonaws.com/o.jpg?sig=1")
    body = api.post([task]).json()
    assert body["errors"][0]["code"] == "uploadFailed"
    assert "loopback" in body["errors"][0]["message"]


def test_webhook_gets_one_flat_post_per_result(
    api: Api, emulator: EmulatorServer, sink_factory: SinkFactory
) -> None:
    sink = sink_factory()
    task = image_inference_task(
        deliveryMethod="async", numberResults=3, webhookURL=f"{sink.url}/hook?token=abc"
    )
    api.post([task])
    api.wait_done(task["taskUUID"])
    received = sink.wait_for(3)
    assert len(received) == 3
    bodies = [json.loads(r.body) for r in received]
    for request, body in zip(received, bodies, strict=True):
        assert request.method == "POST"
        assert request.path == "/hook?token=abc"
        assert request.headers["content-type"] == "application/json"
        assert "data" not in body
        assert body["taskUUID"] == task["taskUUID"]
        assert body["taskType"] == "imageInference"
        assert "imageURL" in body and "seed" in body
    assert len({b["imageUUID"] for b in bodies}) == 3
    time.sleep(0.1)
    assert len(sink.requests) == 3  # no extra deliveries
    stats = emulator.stats()
    assert (stats["webhooks_made"], stats["webhooks_delivered"]) == (3, 3)


def test_webhook_is_retried_with_backoff_until_2xx(
    api: Api, emulator: EmulatorServer, sink_factory: SinkFactory
) -> None:
    emulator.configure(webhook_backoff=0.05)
    sink = sink_factory(statuses=[500, 503, 404])
    task = image_inference_task(webhookURL=f"{sink.url}/hook")
    api.post([task])
    received = sink.wait_for(4)
    assert len(received) == 4
    assert len({r.body for r in received}) == 1  # the same result each time
    gaps = [b.at - a.at for a, b in itertools.pairwise(received)]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.09 and gaps[2] >= 0.19  # doubling backoff
    time.sleep(0.2)
    stats = emulator.stats()
    assert (stats["webhooks_made"], stats["webhooks_delivered"], stats["webhooks_failed"]) == (
        4,
        1,
        0,
    )


def test_webhook_gives_up_after_max_attempts(
    api: Api, emulator: EmulatorServer, sink_factory: SinkFactory
) -> None:
    emulator.configure(webhook_backoff=0.01, webhook_max_attempts=3)
    sink = sink_factory(default_status=500)
    api.post([image_inference_task(webhookURL=f"{sink.url}/hook")])
    sink.wait_for(3)
    time.sleep(0.3)
    assert len(sink.requests) == 3
    stats = emulator.stats()
    assert (stats["webhooks_made"], stats["webhooks_failed"]) == (3, 1)
