"""A contact sheet: one PNG with a thumbnail of every image of a run, labelled with its item key.

Reviewers open one file instead of hundreds. Failed items get a grey tile with the error code,
so what is missing is as visible as what was made.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

_BACKGROUND = (250, 250, 248)
_CELL = (232, 232, 228)
_FAILED = (214, 204, 204)
_TEXT = (30, 30, 30)
_MUTED = (110, 110, 110)
MAX_COLUMNS = 10


@dataclass(frozen=True)
class Tile:
    """One cell: an image (encoded bytes) or None for an item without one, and its label."""

    label: str
    image: bytes | None = None
    note: str = ""


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _fit(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    width: int,
) -> str:
    """*text*, cut with an ellipsis to fit *width* pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _thumbnail(data: bytes, size: int) -> Image.Image | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (size, size))
            picture = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    picture.thumbnail((size, size))
    return picture


def columns_for(count: int) -> int:
    """A near-square grid, at most :data:`MAX_COLUMNS` wide."""
    return max(1, min(MAX_COLUMNS, count, math.ceil(math.sqrt(count))))


def render_contact_sheet(
    tiles: Sequence[Tile], *, title: str, subtitle: str = "", thumbnail_px: int = 256
) -> bytes:
    """The PNG bytes of a grid of *tiles* under a title."""
    size = thumbnail_px
    pad = max(6, size // 24)
    label_font, title_font, small_font = (
        _font(max(11, size // 16)),
        _font(max(14, size // 11)),
        _font(max(10, size // 20)),
    )
    label_h = int(label_font.size if isinstance(label_font, ImageFont.FreeTypeFont) else 11) + pad
    header_h = (
        pad * 3
        + int(getattr(title_font, "size", 14))
        + (int(getattr(small_font, "size", 10)) + pad if subtitle else 0)
    )
    columns = columns_for(len(tiles)) if tiles else 1
    rows = math.ceil(len(tiles) / columns) if tiles else 0
    cell_w, cell_h = size + 2 * pad, size + label_h + 2 * pad
    width = max(columns * cell_w + pad, 720)
    height = header_h + max(rows, 1) * cell_h + pad
    sheet = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    draw.text(
        (pad, pad), _fit(draw, title, title_font, width - 2 * pad), fill=_TEXT, font=title_font
    )
    if subtitle:
        y = pad * 2 + int(getattr(title_font, "size", 14))
        draw.text(
            (pad, y),
            _fit(draw, subtitle, small_font, width - 2 * pad),
            fill=_MUTED,
            font=small_font,
        )
    if not tiles:
        draw.text((pad, header_h), "no images", fill=_MUTED, font=label_font)
    for position, tile in enumerate(tiles):
        row, column = divmod(position, columns)
        x, y = pad + column * cell_w, header_h + row * cell_h
        thumb = _thumbnail(tile.image, size) if tile.image is not None else None
        draw.rectangle(
            (x, y, x + size - 1, y + size - 1), fill=_CELL if thumb is not None else _FAILED
        )
        if thumb is not None:
            sheet.paste(thumb, (x + (size - thumb.width) // 2, y + (size - thumb.height) // 2))
        else:
            note = tile.note or ("unreadable" if tile.image is not None else "no image")
            draw.text(
                (x + pad, y + size // 2 - pad),
                _fit(draw, note, small_font, size - 2 * pad),
                fill=_TEXT,
                font=small_font,
            )
        draw.text(
            (x, y + size + pad // 2),
            _fit(draw, tile.label, label_font, size),
            fill=_TEXT,
            font=label_font,
        )
    out = io.BytesIO()
    sheet.save(out, format="PNG", optimize=True)
    return out.getvalue()
