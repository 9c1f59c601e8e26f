"""Prompt templates: sandboxed Jinja over an item's fields and the run's fields.

``StrictUndefined`` makes a field that an item does not have an error that names the field,
instead of an empty string in a paid prompt. The sandbox keeps item data (which may come from
a bucket) from reaching Python internals. Rendered text has its whitespace collapsed: a prompt
written as a YAML block reads as one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    UndefinedError,
    meta,
)
from jinja2.nodes import Template as TemplateAST
from jinja2.sandbox import SandboxedEnvironment

RUN_FIELDS = ("ds", "ds_nodash", "ts", "logical_date", "run_id", "dag_id", "campaign")
"""Names every template may use besides the item's fields."""
CONTEXT_NAMES = frozenset({*RUN_FIELDS, "item", "variant"})

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_UNDEFINED = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


class PromptError(ValueError):
    """A template that does not compile or render; ``field`` names a missing field, if any."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.line = line


@dataclass(frozen=True)
class Compiled:
    """A compiled template and the top-level names it reads."""

    source: str
    names: frozenset[str]


@lru_cache(maxsize=512)
def compile_template(source: str) -> Compiled:
    """Compile *source* (cached: the DAG processor parses the same campaigns again and again).

    :raises PromptError: a syntax error, with its line within the template.
    """
    try:
        ast: TemplateAST = _ENV.parse(source)
    except TemplateSyntaxError as error:
        raise PromptError(f"Jinja syntax: {error.message}", line=error.lineno) from None
    return Compiled(source, frozenset(meta.find_undeclared_variables(ast)))


@lru_cache(maxsize=512)
def _template(source: str) -> Template:
    return _ENV.from_string(source)


def missing_names(compiled: Compiled, fields: Mapping[str, Any]) -> list[str]:
    """Top-level names the template reads that neither the item nor the run provides."""
    return sorted(
        name for name in compiled.names if name not in fields and name not in CONTEXT_NAMES
    )


def context_for(
    fields: Mapping[str, Any],
    run: Mapping[str, Any],
    variant: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The names a template sees: the item's fields, ``item``, ``variant``, then the run's
    fields (which win over an item field of the same name; ``item.<name>`` still reaches it)."""
    context: dict[str, Any] = dict(fields)
    context["item"] = dict(fields)
    context["variant"] = dict(variant or {})
    context.update(run)
    return context


def render(source: str, context: Mapping[str, Any], *, collapse: bool = True) -> str:
    """Render *source* with *context*.

    :param collapse: fold whitespace runs (newlines of a YAML block) into single spaces.
    :raises PromptError: naming the missing field, or the template error.
    """
    try:
        text = _template(source).render(context)
    except UndefinedError as error:
        match = _UNDEFINED.search(str(error))
        name = next((group for group in match.groups() if group), None) if match else None
        message = f"uses {name!r}, which this item does not have" if name else str(error)
        raise PromptError(message, field=name) from None
    except TemplateSyntaxError as error:
        raise PromptError(f"Jinja syntax: {error.message}", line=error.lineno) from None
    except TemplateError as error:
        raise PromptError(f"{type(error).__name__}: {error}") from None
    except Exception as error:  # e.g. {{ price * 2 }} on text: a mistake in the template
        raise PromptError(f"{type(error).__name__}: {error}") from None
    return " ".join(text.split()) if collapse else text.strip()
