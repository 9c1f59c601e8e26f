"""A storage step run as its own process, so a test can SIGKILL it mid-upload and run it again.

``python -m tests.operators.delivery_job BASE_URL API_KEY DESTINATION RUN_ID COUNT``: plans COUNT
tasks with fixed identities, submits them idempotently, waits, stores every image (pull) and
writes the manifest, printing ``stored N`` at the end. Run twice with the same arguments, it is
what a retried Airflow task does.
"""

from __future__ import annotations

import sys

from airflow_provider_wan.api import ImageInference, RetryPolicy, RunwareClient
from airflow_provider_wan.api.submission import PlannedTask, submit_planned
from airflow_provider_wan.delivery import Delivery, failure_lines
from airflow_provider_wan.outcome import TaskRef, results_event, summarize


def main(base_url: str, api_key: str, destination: str, run_id: str, count: int) -> None:
    planned = [
        PlannedTask(
            ("killed_dag", run_id, "generate", -1, f"item-{n:02d}", 0),
            ImageInference(
                positive_prompt=f"a large poster, variant {n}",
                width=2700,
                height=768,
                output_format="PNG",
                delivery_method="async",
            ),
        )
        for n in range(count)
    ]
    retry = RetryPolicy(initial_delay=0.05, max_delay=0.2)
    with RunwareClient(api_key, base_url=base_url, retry=retry) as client:
        submission = submit_planned(client, planned)
        by_uuid = {submission.uuids[item.identity]: item for item in planned}
        tracker = client.wait({uuid: 1 for uuid in by_uuid}, timeout=60)
    refs = {uuid: TaskRef(str(item.identity[4]), 1) for uuid, item in by_uuid.items()}
    summary = summarize(results_event(tracker), refs, tracker.images())
    origin = base_url.rsplit("/", 1)[0]
    delivery = Delivery(destination, trusted_origins=(origin,))
    store = delivery.open_store()
    try:
        delivered = delivery.store_images(store, summary["images"], by_uuid, {})
        lines = [*delivered.lines, *failure_lines(summary["failures"], runware_only=True)]
        delivery.write_manifest(store, delivery.manifest_uri(run_id), lines)
    finally:
        store.close()
    print(f"stored {len(delivered.uris)}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5], int(sys.argv[5]))
