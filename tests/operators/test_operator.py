"""The operator's own logic: requests built and validated before any spend, UUIDs, retries."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_wan.api import ImageInference, InvalidRequestError, RetryPolicy, RunwareClient
from airflow_provider_wan.api.submission import PlannedTask, submit_planned
from airflow_provider_wan.emulator import EmulatorServer
from airflow_provider_wan.operators.image_inference import WanImageInferenceOperator
from tests.fixtures.runware_emulator import EMULATOR_API_KEY


def operator(**kwargs: Any) -> WanImageInferenceOperator:
    return WanImageInferenceOperator(task_id="generate", **kwargs)


def context(
    dag_id: str = "d", run_id: str = "r", task_id: str = "generate", map_index: int = -1
) -> Any:
    return {
        "ti": SimpleNamespace(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
    }


def test_plain_arguments_make_one_request() -> None:
    [(key, task)] = operator(
        prompt="a mug",
        width=1024,
        height=1024,
        reference_images=["https://example.com/m.jpg"],
        check_content=True,
        prompt_extend=False,
        output_format="webp",
        number_results=3,
    ).build_requests()
    assert key == "0"
    assert task.to_wire() == {
        "taskType": "imageInference",
        "model": "alibaba:wan@2.6-image",
        "positivePrompt": "a mug",
        "width": 1024,
        "height": 1024,
        "numberResults": 3,
        "outputFormat": "WEBP",
        "includeCost": True,
        "inputs": {"referenceImages": ["https://example.com/m.jpg"]},
        "safety": {"checkContent": True},
        "providerSettings": {"alibaba": {"promptExtend": False}},
    }


def test_plain_arguments_are_defaults_under_each_request() -> None:
    built = operator(
        width=1024,
        height=1024,
        prompt_extend=False,
        requests=[
            {"item_key": "a", "positivePrompt": "one"},
            {
                "item_key": "b",
                "positivePrompt": "two",
                "width": 1536,
                "providerSettings": {"alibaba": {"promptExtend": True}},
            },
            ImageInference(positive_prompt="three", width=768, height=2700),
        ],
    ).build_requests()
    assert [key for key, _ in built] == ["a", "b", "2"]
    assert [(t.width, t.height) for _, t in built] == [(1024, 1024), (1536, 1024), (768, 2700)]
    assert [t.to_wire()["providerSettings"]["alibaba"]["promptExtend"] for _, t in built] == [
        False,
        True,
        False,
    ]


def test_an_invalid_request_names_its_index_and_field() -> None:
    op = operator(
        width=1024, height=1024, requests=[{"positivePrompt": "ok"}, {"positivePrompt": "x" * 2101}]
    )
    with pytest.raises(
        InvalidRequestError, match=r"(?s)Invalid request 1 .*positivePrompt"
    ) as caught:
        op.build_requests()
    assert caught.value.index == 1
    with pytest.raises(AirflowFailException, match="positivePrompt"):
        op.plan(context())


def test_duplicate_item_keys_are_refused() -> None:
    op = operator(
        width=1024,
        height=1024,
        requests=[
            {"item_key": "x", "positivePrompt": "a"},
            {"item_key": "x", "positivePrompt": "b"},
        ],
    )
    with pytest.raises(InvalidRequestError, match="item_key = x: already used by request 0"):
        op.build_requests()


def test_requests_must_be_a_list() -> None:
    with pytest.raises(InvalidRequestError, match="must be a list"):
        operator(requests={"positivePrompt": "x"}).build_requests()  # type: ignore[arg-type]


def test_nothing_without_a_prompt() -> None:
    with pytest.raises(InvalidRequestError, match="positivePrompt"):
        operator(width=1024, height=1024).build_requests()


def test_task_uuids_are_a_pure_function_of_the_task_instance_and_item() -> None:
    op = operator(
        width=1024, height=1024, requests=[{"item_key": k, "positivePrompt": k} for k in "abc"]
    )
    first = [item.uuid(0) for item in op.plan(context())]
    assert first == [item.uuid(0) for item in op.plan(context())]
    assert len(set(first)) == 3
    for other in (
        context(run_id="r2"),
        context(map_index=1),
        context(task_id="t2"),
        context(dag_id="d2"),
    ):
        assert set(first).isdisjoint(item.uuid(0) for item in op.plan(other))
    assert first[0] != op.plan(context())[0].uuid(1)


def test_a_given_task_uuid_is_ignored_in_favour_of_the_derived_one() -> None:
    op = operator(
        width=1024,
        height=1024,
        requests=[{"positivePrompt": "a", "taskUUID": "4d3c2b1a-0000-4000-8000-000000000000"}],
    )
    [(_, task)] = op.build_requests()
    assert task.task_uuid is None


@pytest.fixture
def client(emulator: EmulatorServer) -> Any:
    retry = RetryPolicy(initial_delay=0.01, max_delay=0.05)
    with RunwareClient(EMULATOR_API_KEY, base_url=emulator.base_url, retry=retry) as c:
        yield c


def planned(count: int) -> list[PlannedTask]:
    return [
        PlannedTask(
            ("dag", "run", "task", -1, f"item-{n}", 0),
            ImageInference(
                positive_prompt=f"p{n}", width=1024, height=1024, delivery_method="async"
            ),
        )
        for n in range(count)
    ]


def test_a_retry_polls_instead_of_paying_twice(
    client: RunwareClient, emulator: EmulatorServer
) -> None:
    tasks = planned(6)
    first = submit_planned(client, tasks)
    again = submit_planned(client, tasks)
    assert len(first.accepted) == 6 and again.accepted == []
    assert sorted(again.reused) == sorted(first.accepted)
    assert again.uuids == first.uuids
    stats = emulator.stats()
    assert stats["tasks_accepted"] == 6 and stats["duplicate_submissions"] == 6


def test_a_retry_redoes_only_what_failed(client: RunwareClient, emulator: EmulatorServer) -> None:
    tasks = planned(4)
    succeeded = submit_planned(client, tasks[:2])
    emulator.configure(faults={"task_error": 1.0})
    failing = submit_planned(client, tasks[2:])
    client.wait(dict.fromkeys(failing.accepted, 1), timeout=10)
    emulator.configure(faults={})
    retry = submit_planned(client, tasks)
    assert sorted(retry.reused) == sorted(succeeded.accepted)
    assert len(retry.regenerated) == 2 and len(retry.accepted) == 2
    assert all(retry.uuids[t.identity] == t.uuid(1) for t in tasks[2:])
    assert emulator.stats()["tasks_accepted"] == 6  # 4 first time, 2 redone, nothing paid twice


def test_rejections_by_the_api_are_reported_not_retried(client: RunwareClient) -> None:
    # A URL reference image the emulator cannot resolve is refused by the API, not by us.
    result = submit_planned(
        client,
        [
            PlannedTask(
                ("d", "r", "t", -1, "k", 0),
                ImageInference(
                    positive_prompt="p",
                    width=1024,
                    height=1024,
                    inputs={"referenceImages": ["4d3c2b1a-1111-4000-8000-000000000000"]},
                ),
            )
        ],
    )
    assert len(result.rejected) == 1
    [error] = result.rejected.values()
    assert error.code == "invalidReferenceImages"
