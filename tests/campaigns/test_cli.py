"""`wan campaign validate` finds every kind of mistake a person makes in a campaign file and
names each with file, line and key; `render` shows the requests and the cost without network;
`wan emulator` is the emulator."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_wan.cli import main

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
name: good_campaign
prompt: "photo of a {{ color }} {{ name }}"
generation:
  size: square
items:
  key: sku
  inline:
    - {sku: a-1, name: kettle, color: red}
    - {sku: a-2, name: mug, color: blue}
destination: "gs://bucket/{{ ds }}/{item_key}-{index}.{ext}"
"""


INLINE = GOOD[GOOD.index("  inline:") : GOOD.index("destination:")]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def wan(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


def validate(path: Path, *extra: str) -> tuple[int, list[str]]:
    code, text = wan("campaign", "validate", "--no-connections", *extra, str(path))
    return code, text.splitlines()


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # problems name files relative to the working directory


def test_a_good_file_passes(tmp_path: Path) -> None:
    code, lines = validate(write(tmp_path, "good.yaml", GOOD))
    assert code == 0
    assert lines == [
        "ok: good.yaml: good_campaign: 2 item(s), 2 request(s), 2 image(s) in 1 chunk(s), "
        "estimated 0.06 USD"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            ("prompt:", "promt:"),
            [
                "good.yaml:2: promt: unknown key; did you mean 'prompt'?",
                "good.yaml:1: prompt: required key is missing",
            ],
            id="wrong-key",
        ),
        pytest.param(
            ("  size: square", "  sise: square"),
            ["good.yaml:4: generation.sise: unknown key; did you mean 'size'?"],
            id="wrong-nested-key",
        ),
        pytest.param(
            ("size: square", "size: 4000x4000"),
            [
                "good.yaml:4: generation.size: 4000x4000: the area is 16,000,000 pixels; "
                "width x height must"
            ],
            id="size-too-large",
        ),
        pytest.param(
            ("size: square", "size: 3000x600"),
            ["good.yaml:4: generation.size: 3000x600: the aspect ratio is 5:1"],
            id="size-too-wide",
        ),
        pytest.param(
            ("size: square", "size: squared"),
            ["good.yaml:4: generation.size: 'squared' is neither a size preset nor WIDTHxHEIGHT"],
            id="unknown-preset",
        ),
        pytest.param(
            ("{{ color }}", "{{ colour }}"),
            [
                "good.yaml:2: prompt: uses 'colour', which 2 items do not have: a-1 (good.yaml:8), "
                "a-2 (good.yaml:9) (item fields: color, name, sku)"
            ],
            id="missing-item-field",
        ),
        pytest.param(
            ("sku: a-2", "sku: a-1"),
            ["good.yaml:9: items.inline[1].sku: duplicate item key 'a-1' (first on line 8)"],
            id="duplicate-item-key",
        ),
        pytest.param(
            ("sku: a-2", "sku: a 2"),
            ["good.yaml:9: items.inline[1].sku: 'a 2' is not a usable key"],
            id="item-key-with-a-space",
        ),
        pytest.param(
            ("name: good_campaign\n", 'name: good_campaign\nschedule: "0 25 * * *"\n'),
            ["good.yaml:2: schedule: '0 25 * * *' is not a cron expression"],
            id="bad-cron",
        ),
        pytest.param(
            ("{item_key}-{index}", "{sku}-{index}"),
            ["good.yaml:10: destination: "],
            id="unknown-destination-field",
        ),
        pytest.param(
            ("key: sku\n", "key: sku\n  source: items.csv\n"),
            [
                "good.yaml:5: items: give exactly one of 'inline' (a list of items) or "
                "'source' (a file)"
            ],
            id="two-item-sources",
        ),
        pytest.param(
            ("photo of a {{ color }} {{ name }}", "photo of a {{ color }"),
            ["good.yaml:2: prompt: Jinja syntax: "],
            id="template-syntax",
        ),
        pytest.param(
            ("  size: square\n", "  size: square\n  size: square_hd\n"),
            ["good.yaml:5: generation.size: duplicate key (first on line 4)"],
            id="duplicate-yaml-key",
        ),
        pytest.param(
            ("items:\n", "items: [\n"),
            ["good.yaml:7: YAML syntax: expected ',' or ']'"],
            id="yaml-syntax",
        ),
        pytest.param(
            ("name: good_campaign", "name: good campaign"),
            ["good.yaml:1: name: 'good campaign' cannot be a DAG id"],
            id="bad-dag-id",
        ),
        pytest.param(
            ("destination:", "allow_failures: lots\ndestination:"),
            ["good.yaml:10: allow_failures: 'lots': write a count of failed requests (3)"],
            id="failure-policy",
        ),
    ],
)
def test_validate_names_file_line_and_key(
    tmp_path: Path, change: tuple[str, str], expected: list[str]
) -> None:
    path = write(tmp_path, "good.yaml", GOOD.replace(*change))
    code, lines = validate(path)
    assert code == 1
    for wanted in expected:
        assert any(line.startswith(wanted) for line in lines), f"{wanted!r} not in {lines}"
    assert lines[-1].endswith("problem(s) in 1 file(s)")


def test_items_in_a_csv_are_checked_where_they_are_written(tmp_path: Path) -> None:
    write(
        tmp_path,
        "products.csv",
        """\
        sku,name,color
        p-1,kettle,red
        p-2,mug,blue
        p-1,bowl,green
        ,plate,white
        p-5,cup
        """,
    )
    campaign = GOOD.replace(
        INLINE,
        "  source: products.csv\n",
    )
    code, lines = validate(write(tmp_path, "good.yaml", campaign))
    assert code == 1
    assert "products.csv:4: sku: duplicate item key 'p-1' (first on line 2)" in lines
    assert (
        "products.csv:5: sku: the item has no key field 'sku' (fields: color, name, sku)" in lines
    )
    assert "products.csv:6: 2 cells, but the header has 3" in lines


def test_a_request_that_breaks_an_api_rule_names_the_item(tmp_path: Path) -> None:
    campaign = GOOD.replace("color: blue}", "color: " + "b" * 2100 + "}")
    code, lines = validate(write(tmp_path, "good.yaml", campaign))
    assert code == 1
    [line] = [line for line in lines if "positivePrompt" in line]
    assert line.startswith(
        "good.yaml:9: positivePrompt: item 'a-2': String should have at most 2100"
    )


def test_a_local_reference_image_must_exist_inside_the_campaign_folder(tmp_path: Path) -> None:
    campaign = GOOD + 'reference_images: ["{{ sku }}.png", "../outside.png"]\n'
    code, lines = validate(write(tmp_path, "good.yaml", campaign))
    assert code == 1
    assert any(
        line.startswith(
            "good.yaml:8: reference_images[0]: item 'a-1': cannot read the reference image "
            "'a-1.png'"
        )
        for line in lines
    ), lines


def test_a_connection_of_the_wrong_type_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MY_RUNWARE", json.dumps({"conn_type": "http", "host": "example.com"})
    )
    monkeypatch.setenv("AIRFLOW_CONN_MY_GCS", json.dumps({"conn_type": "google_cloud_platform"}))
    campaign = GOOD + "connections:\n  runware: my_runware\n  gcp: my_gcs\n"
    code, text = wan("campaign", "validate", str(write(tmp_path, "good.yaml", campaign)))
    assert code == 1
    assert (
        "good.yaml:12: connections.runware: connection 'my_runware' is of type 'http', "
        "not 'runware'"
    ) in text.splitlines()
    assert "my_gcs" not in text  # found, right type


def test_connections_that_are_not_defined_are_notes_unless_required(tmp_path: Path) -> None:
    path = write(tmp_path, "good.yaml", GOOD + "connections: {runware: nowhere_runware}\n")
    code, text = wan("campaign", "validate", str(path))
    assert code == 0
    assert (
        "note: not defined here, so only checked where the DAG runs: nowhere_runware (runware)"
        in text
    )
    code, text = wan("campaign", "validate", "--require-connections", str(path))
    assert code == 1
    assert "good.yaml:11: connections.runware: connection 'nowhere_runware' is not defined" in text


def test_every_problem_of_every_file_is_listed_and_good_files_still_pass(tmp_path: Path) -> None:
    write(tmp_path, "a_good.yaml", GOOD)
    write(
        tmp_path,
        "b_bad.yaml",
        GOOD.replace("good_campaign", "other")
        .replace("square", "tiny")
        .replace("prompt:", "promt:"),
    )
    write(tmp_path, "c_same_name.yaml", GOOD)
    code, lines = validate(tmp_path)
    assert code == 1
    assert (
        "ok: a_good.yaml: good_campaign: 2 item(s), 2 request(s), 2 image(s) in 1 chunk(s), "
        "estimated 0.06 USD" in lines
    )
    assert any(line.startswith("b_bad.yaml:2: promt: unknown key") for line in lines)
    assert any(line.startswith("b_bad.yaml:4: generation.size: 'tiny'") for line in lines)
    assert "c_same_name.yaml:1: name: 'good_campaign' is already the name of a_good.yaml" in lines
    assert lines[-1] == "4 problem(s) in 2 file(s)"


def test_a_missing_file_is_a_problem(tmp_path: Path) -> None:
    code, lines = validate(tmp_path / "nope.yaml")
    assert code == 1 and lines[0] == "nope.yaml: no such file"


def test_the_example_campaigns_are_valid() -> None:
    code, text = wan("campaign", "validate", "--no-connections", str(ROOT / "dags" / "campaigns"))
    assert code == 0, text
    assert text.count("ok: ") == 3


# --- render ---------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("render must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_render_shows_the_requests_count_and_cost_without_network(
    tmp_path: Path, no_network: None
) -> None:
    path = write(tmp_path, "good.yaml", GOOD + "budget: 0.05\n")
    code, text = wan("campaign", "render", str(path), "--date", "2026-03-01")
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == "campaign good_campaign (good.yaml), run date 2026-03-01"
    assert (
        lines[1]
        == "2 item(s) -> 2 request(s), 2 image(s) in 1 chunk(s); estimated cost 0.06 USD at "
        "0.0300 per image"
    )
    assert lines[2] == "budget 0.05 USD: 0 of 1 chunk(s) fit (0.00 USD estimated)"
    assert "destination: gs://bucket/2026-03-01/{item_key}-{index}.{ext}" in lines
    requests = [json.loads(line) for line in lines if line.startswith("{")]
    assert [r["item_key"] for r in requests] == ["a-1", "a-2"]
    assert requests[0]["positivePrompt"] == "photo of a red kettle"
    assert requests[0]["model"] == "alibaba:wan@2.6-image" and requests[0]["width"] == 1024


def test_render_json_is_one_document(tmp_path: Path, no_network: None) -> None:
    path = write(tmp_path, "good.yaml", GOOD)
    code, text = wan("campaign", "render", str(path), "--json", "--date", "2026-03-01")
    assert code == 0
    document = json.loads(text)
    assert document["items"] == 2 and document["images"] == 2 and document["chunks"] == 1
    assert document["estimated_cost_usd"] == pytest.approx(0.06)
    assert document["requests"][1]["request"]["positivePrompt"] == "photo of a blue mug"


def test_render_does_not_read_a_bucket(tmp_path: Path, no_network: None) -> None:
    campaign = GOOD.replace(
        INLINE,
        "  source: gs://bucket/items.jsonl\n",
    )
    path = write(tmp_path, "good.yaml", campaign)
    code, text = wan("campaign", "render", str(path))
    assert code == 1 and "pass --items with a local copy" in text
    local = write(tmp_path, "copy.jsonl", '{"sku": "x", "name": "n", "color": "c"}\n')
    code, text = wan("campaign", "render", str(path), "--items", str(local))
    assert code == 0 and '"item_key": "x"' in text


def test_render_of_a_broken_file_lists_its_problems(tmp_path: Path) -> None:
    code, text = wan(
        "campaign", "render", str(write(tmp_path, "good.yaml", GOOD.replace("square", "huge")))
    )
    assert code == 1 and text.startswith("good.yaml:4: generation.size:")


# --- emulator and console script -------------------------------------------------------------


def test_wan_emulator_is_the_emulator_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(
        "airflow_provider_wan.emulator.cli.main", lambda argv: seen.append(list(argv)) or 0
    )
    assert main(["emulator", "--port", "0", "--help"]) == 0
    assert seen == [["--port", "0", "--help"]]


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("wan")
    assert script.exists()
    done = subprocess.run(
        [str(script), "campaign", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "validate" in done.stdout and "render" in done.stdout


def test_a_typo_does_not_hide_the_problems_of_the_items_and_templates(tmp_path: Path) -> None:
    campaign = GOOD.replace("  size: square", "  sise: square").replace(
        "{{ color }}", "{{ colour }}"
    )
    campaign = campaign.replace("sku: a-2", "sku: a-1")
    code, lines = validate(write(tmp_path, "good.yaml", campaign))
    assert code == 1
    assert lines[0].startswith("good.yaml:2: prompt: uses 'colour', which item does not have: a-1")
    assert lines[1] == "good.yaml:4: generation.sise: unknown key; did you mean 'size'?"
    assert (
        lines[2] == "good.yaml:9: items.inline[1].sku: duplicate item key 'a-1' (first on line 8)"
    )
