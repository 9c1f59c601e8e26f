"""Campaign folders become DAGs the way Airflow loads them: a broken file is one import error
naming it (file, line, key) while the others keep loading; parsing costs no network."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_wan.campaigns import CampaignError, campaign_dag, load_campaigns
from airflow_provider_wan.campaigns.dag import CAMPAIGN_TAG, build_dag
from airflow_provider_wan.campaigns.files import read_campaign

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "dags"

CAMPAIGN = """\
name: {name}
prompt: "poster of {{{{ theme }}}}"
generation:
  size: {size}
items:
  key: theme
  inline: [{{theme: sea}}, {{theme: hills}}]
destination: "gs://bucket/{{{{ ds }}}}/{{item_key}}-{{index}}.{{ext}}"
"""
LOADER = """\
# airflow DAG file: every campaign under campaigns/
from pathlib import Path

from airflow_provider_wan.campaigns import register_campaigns

register_campaigns(Path(__file__).parent / "campaigns", globals())
"""
SHIM = """\
# airflow DAG file for the campaign beside it
from pathlib import Path

from airflow_provider_wan.campaigns import campaign_dag

dag = campaign_dag(Path(__file__).with_suffix(".yaml"))
"""


def bag(folder: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(folder))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("parsing a campaign must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_a_broken_campaign_is_one_import_error_and_the_others_still_load(
    airflow_db: None, tmp_path: Path
) -> None:
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    (tmp_path / "wan_campaigns.py").write_text(LOADER)
    (campaigns / "a_good.yaml").write_text(CAMPAIGN.format(name="good_one", size="square"))
    (campaigns / "b_broken.yaml").write_text(CAMPAIGN.format(name="broken_one", size="4000x4000"))
    (campaigns / "c_good.yaml").write_text(CAMPAIGN.format(name="good_two", size="landscape_16_9"))
    dags = bag(tmp_path)
    assert sorted(dags.dag_ids) == ["good_one", "good_two"]
    [(file, error)] = dags.import_errors.items()
    assert file.endswith("wan_campaigns.py")
    assert error.startswith("CampaignError: 1 problem in campaign files:")
    assert "campaigns/b_broken.yaml:4: generation.size: 4000x4000: the area is 16,000,000" in error
    assert "a_good" not in error and "c_good" not in error


def test_every_broken_campaign_is_named_in_the_import_error(
    airflow_db: None, tmp_path: Path
) -> None:
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    (tmp_path / "wan_campaigns.py").write_text(LOADER)
    broken = CAMPAIGN.format(name="one", size="square").replace("{{ theme }}", "{{ topic }}")
    (campaigns / "one.yaml").write_text(broken.replace("generation:", "generaton:"))
    (campaigns / "two.yaml").write_text("name: [unclosed\n")
    (campaigns / "three.yaml").write_text(CAMPAIGN.format(name="three", size="square"))
    dags = bag(tmp_path)
    assert dags.dag_ids == ["three"]
    [error] = dags.import_errors.values()
    assert "campaigns/one.yaml:3: generaton: unknown key; did you mean 'generation'?" in error
    assert "campaigns/one.yaml:2: prompt: uses 'topic', which 2 items do not have" in error
    assert "campaigns/two.yaml:2: YAML syntax:" in error


def test_a_campaign_with_its_own_dag_file_has_its_own_import_error(
    airflow_db: None, tmp_path: Path
) -> None:
    for name, size in (("kettles", "square"), ("banners", "9000x10")):
        (tmp_path / f"{name}.yaml").write_text(CAMPAIGN.format(name=name, size=size))
        (tmp_path / f"{name}.py").write_text(SHIM)
    dags = bag(tmp_path)
    assert dags.dag_ids == ["kettles"]
    [(file, error)] = dags.import_errors.items()
    assert file.endswith("banners.py")
    assert "banners.yaml:4: generation.size: 9000x10" in error


def test_the_examples_folder_loads_every_campaign(airflow_db: None) -> None:
    dags = bag(EXAMPLES)
    assert dags.import_errors == {}
    assert {
        "catalog_refresh",
        "editorial_banners",
        "seasonal_collection",
        "wan_catalog_taskflow",
    } <= set(dags.dag_ids)


def test_parsing_campaigns_costs_no_network_and_little_time(
    no_network: None, tmp_path: Path
) -> None:
    folder = tmp_path / "campaigns"
    shutil.copytree(EXAMPLES / "campaigns", folder)
    remote = CAMPAIGN.format(name="remote_items", size="square").replace(
        "  inline: [{theme: sea}, {theme: hills}]", "  source: s3://bucket/themes.csv"
    )
    (folder / "remote.yaml").write_text(remote)
    load_campaigns(folder)  # warm the imports
    started = time.perf_counter()
    dags, problems = load_campaigns(folder)
    elapsed = time.perf_counter() - started
    assert problems == []
    assert sorted(dags) == [
        "catalog_refresh",
        "editorial_banners",
        "remote_items",
        "seasonal_collection",
    ]
    assert elapsed < 1.0, f"parsing four campaigns took {elapsed:.2f} s"


def test_campaign_dag_raises_the_problems_of_its_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        CAMPAIGN.format(name="bad", size="square").replace("{{ theme }}", "{{ colour }}")
    )
    with pytest.raises(CampaignError) as raised:
        campaign_dag(path)
    [problem] = raised.value.problems
    assert (problem.file, problem.line, problem.key) == ("bad.yaml", 2, "prompt")
    assert "uses 'colour', which 2 items do not have" in problem.message


def test_the_built_dag_is_plan_then_mapped_chunks_then_finish() -> None:
    cf = read_campaign(EXAMPLES / "campaigns" / "catalog_refresh.yaml")
    dag = build_dag(cf)
    assert set(dag.task_dict) == {"plan", "generate", "finish"}
    generate = dag.task_dict["generate"]
    assert generate.upstream_task_ids == {"plan"}
    assert dag.task_dict["finish"].upstream_task_ids == {"generate"}
    assert dag.task_dict["finish"].trigger_rule == "all_done"
    assert generate.partial_kwargs["deferrable"] is True
    assert generate.partial_kwargs["max_active_tis_per_dagrun"] == 2
    assert (
        generate.partial_kwargs["width"] == 1024
        and generate.partial_kwargs["output_format"] == "WEBP"
    )
    assert dag.tags >= {CAMPAIGN_TAG, "catalog", "ecommerce"}
    assert dag.default_args["owner"] == "catalog-data" and dag.default_args["retries"] == 2
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("0 2 * * *", "Europe/Paris")
    assert set(dag.params) == {"destination", "items_source", "max_items"}
    assert dag.catchup is False and dag.max_active_runs == 1


def test_the_built_dag_serializes_as_the_dag_processor_stores_it() -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    for path in sorted((EXAMPLES / "campaigns").glob("*.yaml")):
        data = DagSerialization.to_dict(build_dag(read_campaign(path)))
        assert data["dag"]["dag_id"] == path.stem
