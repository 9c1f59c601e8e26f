"""The ``wan`` command: check and preview campaign files, run the Runware emulator.

::

    wan campaign validate FILE_OR_FOLDER...  every problem as file:line: key: message; exit 1
    wan campaign render FILE [--date D]      the requests a run would send, items, cost
    wan emulator [OPTIONS]                   the local Runware emulator (docs/emulator.md)

Nothing here sends a request to Runware. ``validate`` looks connections up the way Airflow
does (environment, secrets backends, metadata database) unless ``--no-connections``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from airflow_provider_wan.campaigns.files import CampaignFile, display_path, read_campaign
from airflow_provider_wan.campaigns.problems import CampaignError, Problem

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
_SHORT_DATA = 48


@dataclass
class FileReport:
    """What ``validate`` found in one file."""

    name: str
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: str = ""


def _campaign_paths(arguments: Sequence[str]) -> tuple[list[Path], list[Problem]]:
    from airflow_provider_wan.campaigns.files import display_path as show

    paths: list[Path] = []
    problems: list[Problem] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            from airflow_provider_wan.campaigns.loader import campaign_files

            found = campaign_files(path)
            if not found:
                problems.append(
                    Problem(argument, None, "", "no campaign files (*.yaml, *.yml) here")
                )
            paths += found
        elif path.is_file():
            paths.append(path)
        else:
            problems.append(Problem(show(path), None, "", "no such file"))
    return paths, problems


def _fetcher(cf: CampaignFile) -> Callable[[str], bytes]:
    def fetch(uri: str) -> bytes:
        from airflow_provider_wan.hooks.storage import open_store

        connections = cf.spec.connections
        store = open_store(uri, gcp_conn_id=connections.gcp, aws_conn_id=connections.aws)
        try:
            data: bytes = store.read(uri)
        finally:
            store.close()
        return data

    return fetch


def validate_file(
    path: Path,
    *,
    check_connections: bool,
    require_connections: bool,
    read_remote: bool,
    on_date: date,
) -> tuple[FileReport, CampaignFile | None]:
    """Every problem of one campaign file: spec, items, templates, requests, names, connections."""
    from airflow_provider_wan.campaigns.items import read_items
    from airflow_provider_wan.campaigns.planning import plan_run
    from airflow_provider_wan.campaigns.static_checks import template_problems

    report = FileReport(display_path(path.resolve()))
    try:
        cf = read_campaign(path)
    except CampaignError as error:
        report.problems = list(error.problems)
        partial: CampaignFile | None = error.partial
        if partial is not None and not partial.spec.items.remote:
            found = read_items(partial)
            report.problems += found.problems + template_problems(partial, found)
        if partial is not None and check_connections:
            report.problems += _connection_problems(partial, require_connections, report.notes)
        return report, None
    spec = cf.spec
    remote = spec.items.remote
    items = (
        read_items(cf, fetch=_fetcher(cf) if read_remote else None)
        if (read_remote or not remote)
        else None
    )
    if items is None:
        report.notes.append(
            f"items are read at run time from {spec.items.source} (use --remote to read them now)"
        )
    else:
        report.problems += items.problems
    report.problems += template_problems(cf, items)
    run = _run_fields(cf, on_date)
    plan = plan_run(cf, items.items if items is not None else [], run)
    seen = {_gist(p) for p in report.problems}
    report.problems += [p for p in plan.problems if _gist(p) not in seen]
    if check_connections:
        report.problems += _connection_problems(cf, require_connections, report.notes)
    if items is not None:
        report.summary = (
            f"{spec.name}: {plan.items} item(s), {len(plan.requests)} request(s), {plan.images} "
            f"image(s) in {len(plan.chunks)} chunk(s), estimated {plan.estimated_cost:.2f} USD"
        )
    else:
        report.summary = f"{spec.name}: items read at run time"
    return report, cf


def _gist(problem: Problem) -> tuple[str, int | None, str, str]:
    """Problems found twice (statically, then by rendering) share file, line, key and gist."""
    return problem.file, problem.line, problem.key, problem.message.split(":")[0]


def _connection_problems(cf: CampaignFile, require: bool, notes: list[str]) -> list[Problem]:
    from airflow_provider_wan.campaigns.connections import (
        EXPECTED_TYPES,
        check_connections,
        needed_kinds,
    )

    kinds = needed_kinds(cf)
    try:
        checks, problems = check_connections(
            cf, kinds, require=frozenset(kinds) if require else frozenset()
        )
    except Exception as error:  # no metadata database here, a secrets backend down...
        notes.append(f"connections not checked: {type(error).__name__}: {error}")
        return []
    undefined = [
        f"{check.conn_id} ({EXPECTED_TYPES[check.kind]})"
        for check in checks
        if check.conn_type is None and not require
    ]
    if undefined:
        notes.append(
            f"not defined here, so only checked where the DAG runs: {', '.join(undefined)}"
        )
    return problems


def _run_fields(cf: CampaignFile, on_date: date) -> dict[str, Any]:
    from airflow_provider_wan.campaigns.rendering import run_fields

    logical = datetime(on_date.year, on_date.month, on_date.day, tzinfo=timezone.utc)
    return run_fields(
        logical_date=logical, run_id=f"scheduled__{logical.isoformat()}", dag_id=cf.spec.name
    )


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    paths, problems = _campaign_paths(args.files)
    reports: list[FileReport] = []
    names: dict[str, str] = {}
    for path in paths:
        report, cf = validate_file(
            path,
            check_connections=not args.no_connections,
            require_connections=args.require_connections,
            read_remote=args.remote,
            on_date=args.date,
        )
        if cf is not None:
            name = cf.spec.name
            if name in names:
                report.problems.append(
                    cf.problem(("name",), "name", f"{name!r} is already the name of {names[name]}")
                )
            names.setdefault(name, cf.name)
        reports.append(report)
    for problem in problems:
        print(problem, file=out)
    for report in reports:
        ordered = sorted(
            report.problems, key=lambda p: (p.file != report.name, p.file, p.line or 0)
        )
        for problem in ordered:
            print(problem, file=out)
        for note in report.notes:
            print(f"{report.name}: note: {note}", file=out)
    total = len(problems) + sum(len(r.problems) for r in reports)
    for report in reports:
        if not report.problems:
            print(f"ok: {report.name}: {report.summary}", file=out)
    if total:
        bad = sum(1 for r in reports if r.problems) + (1 if problems else 0)
        print(f"{total} problem(s) in {bad} file(s)", file=out)
        return EXIT_PROBLEMS
    return EXIT_OK


def _short(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _short(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_short(item) for item in value]
    if isinstance(value, str) and value.startswith("data:") and len(value) > _SHORT_DATA:
        return f"{value[:_SHORT_DATA]}... ({len(value):,} characters)"
    return value


def cmd_render(args: argparse.Namespace, out: TextIO) -> int:
    from airflow_provider_wan.api.validation import parse_inference
    from airflow_provider_wan.campaigns.items import read_items
    from airflow_provider_wan.campaigns.planning import plan_run

    try:
        cf = read_campaign(args.file)
    except CampaignError as error:
        for problem in error.problems:
            print(problem, file=out)
        return EXIT_PROBLEMS
    spec = cf.spec
    if spec.items.remote and not args.items:
        print(
            f"{cf.name}: items.source: {spec.items.source} is read at run time; render makes no "
            "network call: pass --items with a local copy",
            file=out,
        )
        return EXIT_PROBLEMS
    items = read_items(cf, source=str(Path(args.items).resolve()) if args.items else None)
    run = _run_fields(cf, args.date)
    plan = plan_run(cf, items.items, run, max_items=args.max_items)
    problems = items.problems + plan.problems
    if problems:
        for problem in problems:
            print(problem, file=out)
        return EXIT_PROBLEMS
    chunk_of = {r.item_key: n for n, chunk in enumerate(plan.chunks) for r in chunk}
    wire = {r.item_key: parse_inference(r.wire(spec)).to_wire() for r in plan.requests}
    if args.json:
        document = {
            "campaign": spec.name,
            "file": cf.name,
            "date": args.date.isoformat(),
            "items": plan.items,
            "requests": [
                {"item_key": r.item_key, "chunk": chunk_of[r.item_key], "request": wire[r.item_key]}
                for r in plan.requests
            ],
            "images": plan.images,
            "chunks": len(plan.chunks),
            "chunks_within_budget": plan.admitted,
            "price_per_image_usd": plan.price,
            "estimated_cost_usd": plan.estimated_cost,
            "budget_usd": plan.budget_usd,
            "destination": plan.destination,
            "manifest": plan.manifest,
        }
        json.dump(document, out, indent=2)
        print(file=out)
        return EXIT_OK
    print(f"campaign {spec.name} ({cf.name}), run date {args.date.isoformat()}", file=out)
    print(plan.describe(), file=out)
    print(f"manifest: {plan.manifest}", file=out)
    for request in plan.requests:
        line = {
            "item_key": request.item_key,
            "chunk": chunk_of[request.item_key],
            **_short(wire[request.item_key]),
        }
        print(json.dumps(line, ensure_ascii=False), file=out)
    return EXIT_OK


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    """The ``wan`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="wan", description="Wan2.6 image campaigns for Apache Airflow."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    campaign = commands.add_parser("campaign", help="check and preview campaign files")
    actions = campaign.add_subparsers(dest="action", required=True)

    validate = actions.add_parser(
        "validate",
        help="check campaign files; every problem as file:line: key: message; exit 1 if any",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="campaign files or folders")
    validate.add_argument(
        "--no-connections", action="store_true", help="do not look connections up"
    )
    validate.add_argument(
        "--require-connections",
        action="store_true",
        help="a connection that is not defined is a problem (default: only a wrong type is)",
    )
    validate.add_argument("--remote", action="store_true", help="read gs:// and s3:// items now")
    validate.add_argument(
        "--date", type=_date, default=date.today(), help="run date for {{ ds }} (default: today)"
    )
    validate.set_defaults(handler=cmd_validate)

    render = actions.add_parser(
        "render", help="the requests a run would send, its item count and estimated cost"
    )
    render.add_argument("file", metavar="FILE")
    render.add_argument(
        "--date", type=_date, default=date.today(), help="run date (default: today)"
    )
    render.add_argument(
        "--items", metavar="PATH", help="a local items file instead of items.source"
    )
    render.add_argument("--max-items", type=int, default=None, help="only the first N items")
    render.add_argument("--json", action="store_true", help="one JSON document (full data URIs)")
    render.set_defaults(handler=cmd_render)

    commands.add_parser("emulator", help="run the local Runware emulator (wan emulator --help)")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run ``wan``; returns the exit status (0 ok, 1 problems found, 2 usage)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["emulator"]:  # every option belongs to the emulator, --help included
        from airflow_provider_wan.emulator.cli import main as emulator_main

        return emulator_main(arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    try:
        return int(args.handler(args, out or sys.stdout))
    except BrokenPipeError:  # `wan campaign render ... | head`
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
