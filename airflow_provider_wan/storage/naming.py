"""Per-image destination names: a URI template with ``{field}`` placeholders.

Run-level Jinja (``{{ ds }}``, ``{{ run_id }}``, params) is rendered by Airflow first; what
reaches :class:`DestinationTemplate` is a URI with per-image fields in single braces::

    gs://shop-media/catalog/2025-01-31/{item_key}-{index}.{ext}

Fields: ``{item_key}`` (the catalog row's key), ``{index}`` (the image's 0-based position among
its item's results), ``{image_uuid}`` and ``{seed}`` (known only once Runware answers),
``{task_uuid}`` (deterministic, known before submission) and ``{ext}`` (``jpg``, ``png``,
``webp``). A format spec is allowed (``{index:03d}``); attribute access, indexing, conversions
and positional ``{}`` are not. The scheme and bucket must be literal.

:func:`check_unique` runs before submission: two images of a run never get the same name.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from airflow_provider_wan.storage.errors import InvalidDestinationError, NameCollisionError
from airflow_provider_wan.storage.uri import StorageURI, parse_uri

FIELDS: Final = ("item_key", "index", "image_uuid", "task_uuid", "seed", "ext")
KNOWN_BEFORE_SUBMISSION: Final = frozenset({"item_key", "index", "task_uuid", "ext"})
_PLACEHOLDER_TASK_UUID: Final = "00000000-0000-4000-8000-000000000000"
_PLACEHOLDER_SEED: Final = 0


@dataclass(frozen=True)
class ImageName:
    """The per-image values a template is rendered with.

    :param item_key: the item (catalog row) the image belongs to.
    :param index: the image's 0-based position among its item's results (stable across
        retries: in pull mode sort a task's images by ``imageUUID``; in push mode it is the
        ordinal of the single-image task the item was split into).
    :param ext: file extension without the dot (``jpg``, ``png``, ``webp``).
    :param task_uuid: the Runware task UUID, when known.
    :param image_uuid: the Runware image UUID (after generation).
    :param seed: the seed Runware reports (after generation).
    """

    item_key: str
    index: int
    ext: str
    task_uuid: str | None = None
    image_uuid: str | None = None
    seed: int | None = None

    def describe(self) -> str:
        return f"item {self.item_key!r} image {self.index}"


class DestinationTemplate:
    """A validated destination template; render it per image, check it for collisions.

    :param template: the URI template, after Airflow's Jinja rendering.
    :raises InvalidDestinationError: unknown or malformed field, unrendered Jinja, a field in
        the scheme or bucket, or a static part that is not a valid destination URI.
    """

    def __init__(self, template: str) -> None:
        if not isinstance(template, str) or not template:
            raise InvalidDestinationError("the destination template must be a non-empty string")
        self.template = template
        self._parts = _parse(template)
        self.fields: frozenset[str] = frozenset(f for _, f, _ in self._parts if f is not None)
        prefix = self._parts[0][0] if self._parts else template
        _scheme, sep, rest = prefix.partition("://")
        if not sep or ("/" not in rest and self.fields):
            raise InvalidDestinationError(
                f"in {template!r} the scheme and bucket must be literal: write them before the "
                "first {field}, e.g. gs://bucket/path/{item_key}-{index}.{ext}",
                uri=template,
            )
        base_text = prefix.rpartition("/")[0] + "/" if self.fields else template
        base = parse_uri(base_text)
        self.base_uri: StorageURI = base if base.is_prefix else base.parent
        # Render a sample so a static part that breaks the URI rules fails now, not per image.
        self.render(
            ImageName(
                item_key="item",
                index=0,
                ext="jpg",
                task_uuid=_PLACEHOLDER_TASK_UUID,
                image_uuid="00000000-0000-4000-8000-000000000001",
                seed=_PLACEHOLDER_SEED,
            )
        )

    def __repr__(self) -> str:
        return f"DestinationTemplate({self.template!r})"

    @property
    def scheme(self) -> str:
        """``gs``, ``s3`` or ``file``."""
        return self.base_uri.scheme

    @property
    def unique_by_construction(self) -> bool:
        """Whether every image gets its own name whatever the items (``{image_uuid}`` is in)."""
        return "image_uuid" in self.fields

    @property
    def known_before_submission(self) -> bool:
        """Whether names can be rendered before Runware answers (required by push mode)."""
        return self.fields <= KNOWN_BEFORE_SUBMISSION

    def render(self, name: ImageName) -> StorageURI:
        """The destination of one image.

        :raises InvalidDestinationError: a field the template uses has no value yet, a value
            does not fit its format spec, or the result is not a valid object URI.
        """
        values: dict[str, object] = {
            "item_key": name.item_key,
            "index": name.index,
            "ext": name.ext,
            "task_uuid": name.task_uuid,
            "image_uuid": name.image_uuid,
            "seed": name.seed,
        }
        pieces: list[str] = []
        for literal, field, spec in self._parts:
            pieces.append(literal)
            if field is None:
                continue
            value = values[field]
            if value is None:
                raise InvalidDestinationError(
                    f"the destination template {self.template!r} uses {{{field}}}, which is not "
                    f"known for {name.describe()}"
                    + (
                        " before submission: push mode needs names rendered from "
                        "item_key, index, task_uuid and ext only"
                        if field not in KNOWN_BEFORE_SUBMISSION
                        else ""
                    ),
                    uri=self.template,
                )
            try:
                pieces.append(format(value, spec))
            except (ValueError, TypeError) as exc:
                raise InvalidDestinationError(
                    f"{{{field}:{spec}}} in {self.template!r} cannot format {value!r} "
                    f"({name.describe()}): {exc}",
                    uri=self.template,
                ) from None
        text = "".join(pieces)
        try:
            return parse_uri(text).require_object()
        except InvalidDestinationError as exc:
            raise InvalidDestinationError(
                f"{name.describe()} renders to an invalid destination: {exc}", uri=text
            ) from None

    def render_planned(self, name: ImageName) -> StorageURI:
        """Render before submission, with placeholders for what is not known yet.

        ``{seed}`` and an unknown ``{task_uuid}`` become constants (so names that differ only by
        them count as colliding: seeds are not unique); an unknown ``{image_uuid}`` becomes a
        value unique to this image (Runware's image UUIDs are).
        """
        return self.render(_with_placeholders(name))

    def manifest_uri(self, run_id: str) -> StorageURI:
        """The default manifest location: ``<base>/_manifests/<sanitized run_id>.jsonl``."""
        from airflow_provider_wan.storage.manifest import manifest_uri

        return manifest_uri(self.base_uri, run_id)


def check_unique(
    template: DestinationTemplate,
    planned: Iterable[ImageName],
    *,
    run_id: str | None = None,
) -> dict[StorageURI, ImageName]:
    """Fail before submission if two planned images would get the same name.

    With ``{image_uuid}`` in the template names are unique by construction and only validity is
    checked. Otherwise each name is rendered with :meth:`DestinationTemplate.render_planned`.
    With *run_id*, the run's manifest name is reserved too.

    :returns: the planned names, each with the image it belongs to.
    :raises NameCollisionError: naming both images and the shared name (and how many more
        collisions there are).
    :raises InvalidDestinationError: an image renders to an invalid name.
    """
    seen: dict[StorageURI, ImageName] = {}
    reserved: dict[StorageURI, str] = {}
    if run_id is not None:
        reserved[template.manifest_uri(run_id)] = "the run's manifest"
    first_collision: tuple[StorageURI, str, str] | None = None
    collisions = 0
    for position, name in enumerate(planned):
        if template.unique_by_construction and name.image_uuid is None:
            name = _with_placeholders(name, unique=position)
        uri = template.render_planned(name)
        other = seen.get(uri)
        clash = other.describe() if other is not None else reserved.get(uri)
        if clash is not None:
            collisions += 1
            if first_collision is None:
                first_collision = (uri, clash, name.describe())
            continue
        seen[uri] = name
    if first_collision is not None:
        uri, first, second = first_collision
        more = f" ({collisions - 1} more collisions)" if collisions > 1 else ""
        raise NameCollisionError(
            f"{first} and {second} both render to {uri} with the destination template "
            f"{template.template!r}{more}; add {{index}} or {{image_uuid}} to the template, or "
            "make the item keys unique",
            uri=str(uri),
            first=first,
            second=second,
        )
    return seen


def _with_placeholders(name: ImageName, unique: int | None = None) -> ImageName:
    image_uuid = name.image_uuid
    if image_uuid is None:
        # Unique per planned image: Runware never gives two images the same UUID.
        if unique is None:
            key = f"{name.item_key}\0{name.index}".encode()
            unique = int.from_bytes(hashlib.sha256(key).digest()[:6], "big")
        image_uuid = f"00000000-0000-4000-8000-{unique:012x}"
    return ImageName(
        item_key=name.item_key,
        index=name.index,
        ext=name.ext,
        task_uuid=name.task_uuid or _PLACEHOLDER_TASK_UUID,
        image_uuid=image_uuid,
        seed=name.seed if name.seed is not None else _PLACEHOLDER_SEED,
    )


def _parse(template: str) -> list[tuple[str, str | None, str]]:
    """Split *template* into (literal, field, spec) triples, enforcing the field rules."""
    if "{{" in template or "}}" in template:
        raise InvalidDestinationError(
            f"{template!r} contains '{{{{' or '}}}}': unrendered Jinja? Run-level values "
            "({{ ds }}, {{ run_id }}) are rendered by Airflow; per-image fields use single "
            "braces ({item_key})",
            uri=template,
        )
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidDestinationError(
            f"malformed braces in the destination template {template!r}: {exc}", uri=template
        ) from None
    parts: list[tuple[str, str | None, str]] = []
    for literal, field, spec, conversion in parsed:
        if field is None:
            parts.append((literal, None, ""))
            continue
        if field == "" or field.isdigit():
            raise InvalidDestinationError(
                f"positional '{{}}' in {template!r}: name the field, one of "
                + ", ".join(f"{{{f}}}" for f in FIELDS),
                uri=template,
            )
        if field not in FIELDS:
            raise InvalidDestinationError(
                f"unknown field {{{field}}} in the destination template {template!r}; the "
                "fields are " + ", ".join(f"{{{f}}}" for f in FIELDS),
                uri=template,
            )
        if conversion is not None:
            raise InvalidDestinationError(
                f"conversion '!{conversion}' on {{{field}}} is not allowed in {template!r}",
                uri=template,
            )
        if spec and ("{" in spec or "}" in spec):
            raise InvalidDestinationError(
                f"nested fields in the format spec of {{{field}}} are not allowed in {template!r}",
                uri=template,
            )
        parts.append((literal, field, spec or ""))
    return parts
