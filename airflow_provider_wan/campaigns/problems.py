"""What is wrong with a campaign, said the way a compiler says it: ``file:line: key: message``.

Every check of a campaign (the YAML, its items, its templates, its connections) reports
:class:`Problem` objects instead of raising at the first one, so ``wan campaign validate`` and
an import error can list everything a person has to fix in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One mistake in a campaign.

    :param file: the file it is in (the campaign YAML, or the CSV/JSONL its items come from).
    :param line: 1-based line in that file, when known.
    :param key: the dotted key (``generation.size``, ``items.inline[3].sku``), or the item
        field / column for an items file.
    :param message: what is wrong and what would be right.
    """

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class CampaignError(ValueError):
    """A campaign that cannot be used; ``problems`` lists every mistake found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        self.partial: Any = None
        """What could still be checked: the campaign without its broken keys, if valid."""
        super().__init__(describe(self.problems))


def describe(problems: Iterable[Problem]) -> str:
    """One problem per line, in file order."""
    listed = list(problems)
    if not listed:
        return "no problems"
    count = f"{len(listed)} problem{'s' if len(listed) > 1 else ''} in campaign files:\n"
    return count + "\n".join(f"  {problem}" for problem in listed)
