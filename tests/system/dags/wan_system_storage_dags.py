"""A DAG that stores its images, for the secret audit of ``test_airflow_processes.py``.

One run, two deferrable tasks: ``push_s3`` has Runware PUT every image to a presigned URL of
an ``s3://`` bucket (moto, through the stack's ``aws_default`` connection) and writes its
manifest there; ``pull_file`` streams its images into a ``file://`` folder. Every request also
carries a webhook URL whose token comes from the Variable ``wan_webhook_token``, as a user
would keep it. The destinations and the webhook's address come from the run's conf, so the
DAG file itself holds no secret.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_wan.operators.image_inference import WanImageInferenceOperator

SECRET_AUDIT_DAG = "wan_system_secret_audit"
PUSH_TASK, PULL_TASK = "push_s3", "pull_file"
ITEMS = ("kettle", "mug", "teapot")
# Push mode splits a request into one task (one presigned URL) per image.
PUSH_IMAGES_PER_ITEM = 2
START = datetime(2026, 1, 1)
WEBHOOK_URL = "{{ dag_run.conf['webhook'] }}?token={{ var.value.wan_webhook_token }}"


def _requests(prefix: str) -> list[dict[str, object]]:
    return [
        {
            "item_key": item,
            "positivePrompt": f"{prefix}: a {item} on a walnut table, studio light",
            "webhookURL": WEBHOOK_URL,
        }
        for item in ITEMS
    ]


with DAG(
    SECRET_AUDIT_DAG,
    schedule=None,
    start_date=START,
    catchup=False,
    is_paused_upon_creation=False,
):
    common = {
        "width": 1024,
        "height": 1024,
        "output_format": "PNG",
        "prompt_extend": False,
        "deferrable": True,
        "poll_interval": 1.0,
        "max_poll_interval": 1.5,
        "timeout": timedelta(minutes=5),
    }
    WanImageInferenceOperator(
        task_id=PUSH_TASK,
        requests=_requests("push"),
        number_results=PUSH_IMAGES_PER_ITEM,
        destination="{{ dag_run.conf['s3_destination'] }}",
        upload_mode="push",
        **common,
    )
    WanImageInferenceOperator(
        task_id=PULL_TASK,
        requests=_requests("pull"),
        destination="{{ dag_run.conf['file_destination'] }}",
        upload_mode="pull",
        **common,
    )
