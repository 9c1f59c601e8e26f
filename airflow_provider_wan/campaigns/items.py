"""Items: the rows a campaign renders (catalog products, themes...), with a unique key each.

Three sources: ``items.inline`` in the YAML; a CSV or JSON Lines file beside it (a relative
path); or a ``gs://`` / ``s3://`` object, read at run time by the plan task (never while the DAG
is parsed). Every row becomes an :class:`Item` that remembers the file and line it came from,
so a duplicate key or a missing field is reported where a person can fix it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_wan.campaigns.files import CampaignFile
from airflow_provider_wan.campaigns.problems import Problem
from airflow_provider_wan.campaigns.spec import KEY_PATTERN, source_format
from airflow_provider_wan.campaigns.yaml_source import LocatedYAML, format_path
from airflow_provider_wan.storage.errors import TransientStorageError

Row = tuple[int | None, Mapping[str, Any]]
"""A row of an item source: (line in its file, fields)."""


@dataclass(frozen=True)
class Item:
    """One item: its key, its fields, and where it was written."""

    key: str
    fields: Mapping[str, Any]
    file: str
    line: int | None = None


@dataclass
class ItemSet:
    """The items of a source, and what is wrong with them."""

    items: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def field_names(self) -> set[str]:
        """Every field some item has."""
        names: set[str] = set()
        for item in self.items:
            names.update(item.fields)
        return names


def key_problem(value: Any) -> str | None:
    """Why *value* cannot be an item key, or None."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return f"must be text or a whole number, not {type(value).__name__} {value!r}"
    text = str(value)
    if not KEY_PATTERN.match(text):
        return (
            f"{text!r} is not a usable key: 1 to 128 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit (keys become part of object names)"
        )
    return None


def collect(
    rows: Iterable[Row], key_field: str, file: str, *, key_labels: Sequence[str] = ()
) -> ItemSet:
    """Items from *rows*; a row without a usable or unique key is a problem, not an item.

    :param key_labels: how problems name the key of each row (the YAML path of an inline
        item, ``items.inline[3].sku``); the key field's name by default.
    """
    result = ItemSet()
    first_line: dict[str, int | None] = {}
    for position, (line, fields) in enumerate(rows):
        label = key_labels[position] if position < len(key_labels) else key_field
        if key_field not in fields or fields[key_field] in (None, ""):
            present = ", ".join(sorted(str(name) for name in fields)) or "none"
            result.problems.append(
                Problem(
                    file,
                    line,
                    label,
                    f"the item has no key field {key_field!r} (fields: {present})",
                )
            )
            continue
        value = fields[key_field]
        reason = key_problem(value)
        if reason:
            result.problems.append(Problem(file, line, label, reason))
            continue
        key = str(value)
        if key in first_line:
            where = f"line {first_line[key]}" if first_line[key] else "an earlier item"
            result.problems.append(
                Problem(file, line, label, f"duplicate item key {key!r} (first on {where})")
            )
            continue
        first_line[key] = line
        result.items.append(Item(key, dict(fields), file, line))
    return result


def csv_rows(text: str, file: str) -> tuple[list[Row], list[Problem]]:
    """Rows of a CSV file with a header line; every value is text."""
    rows: list[Row] = []
    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = next(reader, None)
        if not header:
            return [], [
                Problem(file, 1, "", "the CSV file is empty; its first line names the columns")
            ]
        names = [name.strip() for name in header]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice or "" in names:
            return [], [Problem(file, 1, "", f"column names must be unique and not empty: {names}")]
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(names):
                problems.append(
                    Problem(file, line, "", f"{len(cells)} cells, but the header has {len(names)}")
                )
                continue
            rows.append((line, dict(zip(names, cells, strict=True))))
    except csv.Error as error:
        problems.append(Problem(file, reader.line_num, "", f"CSV: {error}"))
    return rows, problems


def jsonl_rows(text: str, file: str) -> tuple[list[Row], list[Problem]]:
    """Rows of a JSON Lines file: one JSON object per non-blank line."""
    rows: list[Row] = []
    problems: list[Problem] = []
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except ValueError as error:
            problems.append(Problem(file, number, "", f"not JSON: {error}"))
            continue
        if not isinstance(value, dict):
            problems.append(Problem(file, number, "", "each line must be a JSON object"))
            continue
        rows.append((number, value))
    return rows, problems


def parse_items(data: bytes, fmt: str, file: str, key_field: str) -> ItemSet:
    """The items of a CSV or JSONL file's bytes (UTF-8)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return ItemSet(problems=[Problem(file, None, "", f"not UTF-8 text: {error}")])
    rows, problems = (csv_rows if fmt == "csv" else jsonl_rows)(text, file)
    found = collect(rows, key_field, file)
    found.problems[:0] = problems
    return found


def inline_items(
    inline: list[dict[str, Any]], key_field: str, located: LocatedYAML, file: str
) -> ItemSet:
    """The items written in the YAML under ``items.inline``."""
    paths = [("items", "inline", index) for index in range(len(inline))]
    rows = [(located.line_of(path), fields) for path, fields in zip(paths, inline, strict=True)]
    labels = [format_path((*path, key_field)) for path in paths]
    return collect(rows, key_field, file, key_labels=labels)


def local_source(campaign_path: Path, source: str) -> Path | None:
    """The local file an ``items.source`` names (relative to the YAML, or file://), else None."""
    if source.startswith(("gs://", "s3://")):
        return None
    if source.startswith("file://"):
        from airflow_provider_wan.storage import parse_uri

        return Path(str(parse_uri(source).path))
    return (campaign_path.parent / source).resolve()


def read_local(path: Path, fmt: str | None, key_field: str, file: str) -> ItemSet:
    """The items of a local CSV or JSONL file."""
    kind = fmt or source_format(path.name)
    if kind is None:
        return ItemSet(problems=[Problem(file, None, "", "cannot tell CSV from JSON Lines")])
    try:
        data = path.read_bytes()
    except OSError as error:
        return ItemSet(problems=[Problem(file, None, "", f"cannot read the items file: {error}")])
    return parse_items(data, kind, file, key_field)


def read_items(
    cf: CampaignFile,
    *,
    source: str | None = None,
    fetch: Callable[[str], bytes] | None = None,
) -> ItemSet:
    """The items of a campaign.

    :param source: another ``items.source`` for this run (a run's ``items_source`` param).
    :param fetch: reads a ``gs://`` / ``s3://`` object; without it such a source is a problem
        (it is read at run time only). A storage error is a problem, except a transient one,
        which is raised (the task retries).
    """
    items = cf.spec.items
    origin = source or items.source
    if origin is None:
        return inline_items(items.inline or [], items.key, cf.located, cf.name)
    fmt = items.format if source is None else None
    kind = fmt or source_format(origin)
    if kind is None:
        return ItemSet(
            problems=[
                cf.problem(
                    ("items", "source"),
                    "items.source",
                    f"cannot tell the format of {origin!r}: name it .csv or .jsonl",
                )
            ]
        )
    path = local_source(cf.path, origin)
    if path is not None:
        return read_local(path, kind, items.key, cf.show(path))
    if fetch is None:
        return ItemSet(
            problems=[
                cf.problem(
                    ("items", "source"),
                    "items.source",
                    f"{origin} is read at run time; it was not read here",
                )
            ]
        )
    try:
        data = fetch(origin)
    except TransientStorageError:
        raise  # a retry may succeed: let the task retry
    except Exception as error:  # storage errors name the object and the reason
        return ItemSet(problems=[Problem(origin, None, "", f"cannot read the items: {error}")])
    return parse_items(data, kind, origin, items.key)
