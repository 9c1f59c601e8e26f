"""YAML that remembers where each key was: data plus the line of every key and list entry.

PyYAML's composer already knows the position of every node; this module keeps it. A key path
is a tuple of mapping keys and list indexes (``("items", "inline", 3, "sku")``);
:meth:`LocatedYAML.line_of` gives the line of the longest prefix of a path that exists, so an
error about a missing key points at its parent.

Duplicate keys, which PyYAML silently resolves to the last value, are reported as problems.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_wan.campaigns.problems import Problem

PathPart = str | int
KeyPath = tuple[PathPart, ...]


@dataclass
class LocatedYAML:
    """A parsed YAML document and the 1-based line of each key path in it."""

    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, path: Sequence[PathPart]) -> int | None:
        """The line of *path*, or of its longest existing prefix (the document start: 1)."""
        parts = tuple(path)
        while parts:
            line = self.lines.get(parts)
            if line is not None:
                return line
            parts = parts[:-1]
        return self.lines.get((), 1)

    def has(self, path: Sequence[PathPart]) -> bool:
        """Whether *path* is written in the document."""
        return tuple(path) in self.lines


def format_path(path: Sequence[PathPart]) -> str:
    """``("items", "inline", 3, "sku")`` -> ``items.inline[3].sku``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _walk(node: yaml.Node, path: KeyPath, located: LocatedYAML, file: str) -> None:
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key is None:
                continue
            if key in first_seen:
                located.problems.append(
                    Problem(
                        file,
                        line,
                        format_path((*path, key)),
                        f"duplicate key (first on line {first_seen[key]}); YAML would keep "
                        "only the last one",
                    )
                )
                continue
            first_seen[key] = line
            child = (*path, key)
            located.lines[child] = line
            _walk(value_node, child, located, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            entry = (*path, index)
            located.lines[entry] = item.start_mark.line + 1
            _walk(item, entry, located, file)


def parse_yaml(text: str, file: str) -> LocatedYAML:
    """Parse one YAML document; syntax errors become a :class:`Problem` with their line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return LocatedYAML(data=None, lines={(): 1})
        located = LocatedYAML(data=None, lines={(): node.start_mark.line + 1})
        _walk(node, (), located, file)
        located.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = error.problem or error.context or "invalid YAML"
        return LocatedYAML(data=None, problems=[Problem(file, line, "", f"YAML syntax: {reason}")])
    except yaml.YAMLError as error:
        return LocatedYAML(data=None, problems=[Problem(file, None, "", f"YAML: {error}")])
    finally:
        loader.dispose()
    return located


def load_yaml(path: Path, file: str | None = None) -> LocatedYAML:
    """Read and parse *path*; *file* is the name used in problems (the path by default)."""
    name = file or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return LocatedYAML(data=None, problems=[Problem(name, None, "", f"cannot read: {error}")])
    return parse_yaml(text, name)
