"""Deterministic stand-in images: a pattern derived from (seed, prompt), drawn with Pillow.

The picture is rendered on a small canvas (long side ``CANVAS_LONG_SIDE`` pixels) and scaled to
the requested size with nearest-neighbour sampling, so even a 2-megapixel image costs little more
than its encoding. The same (seed, prompt, width, height) always gives the same pixels, so an
image can be regenerated on request instead of being stored.
"""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageDraw

CANVAS_LONG_SIDE = 96

#: outputFormat -> (Pillow format, MIME type, file extension)
FORMATS: dict[str, tuple[str, str, str]] = {
    "JPG": ("JPEG", "image/jpeg", "jpg"),
    "PNG": ("PNG", "image/png", "png"),
    "WEBP": ("WEBP", "image/webp", "webp"),
}
EXTENSIONS = {ext: fmt for fmt, (_, _, ext) in FORMATS.items()}


def mime_type(output_format: str) -> str:
    """The MIME type of an outputFormat (``JPG`` -> ``image/jpeg``)."""
    return FORMATS[output_format][1]


def extension(output_format: str) -> str:
    """The file extension of an outputFormat (``JPG`` -> ``jpg``)."""
    return FORMATS[output_format][2]


def _canvas_size(width: int, height: int) -> tuple[int, int]:
    if width >= height:
        return CANVAS_LONG_SIDE, max(1, round(CANVAS_LONG_SIDE * height / width))
    return max(1, round(CANVAS_LONG_SIDE * width / height)), CANVAS_LONG_SIDE


def synthesize(seed: int, prompt: str, width: int, height: int) -> Image.Image:
    """The RGB image for (seed, prompt) at exactly ``width`` x ``height``."""
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    c1, c2, c3 = digest[0:3], digest[3:6], digest[6:9]
    stripes = 2 + digest[9] % 6
    cw, ch = _canvas_size(width, height)
    pixels = bytearray(cw * ch * 3)
    i = 0
    for y in range(ch):
        for x in range(cw):
            t = (x / max(1, cw - 1) + y / max(1, ch - 1)) / 2
            band = ((x * stripes) // cw + (y * stripes) // ch) % 2
            for k in range(3):
                value = c1[k] * (1 - t) + c2[k] * t
                if band:
                    value = (value + c3[k]) / 2
                pixels[i] = int(value)
                i += 1
    canvas = Image.frombytes("RGB", (cw, ch), bytes(pixels))
    draw = ImageDraw.Draw(canvas)
    ink = tuple(255 - v for v in c1)
    draw.text((2, 2), str(seed), fill=(ink[0], ink[1], ink[2]))
    return canvas.resize((width, height), Image.Resampling.NEAREST)


def encode(image: Image.Image, output_format: str, quality: int) -> bytes:
    """Encode in outputFormat (``JPG``, ``PNG``, ``WEBP``) at outputQuality (JPG, WEBP)."""
    pil_format = FORMATS[output_format][0]
    buffer = io.BytesIO()
    if pil_format == "JPEG":
        image.save(buffer, "JPEG", quality=quality)
    elif pil_format == "WEBP":
        image.save(buffer, "WEBP", quality=quality, method=0)
    else:
        image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def render(
    seed: int, prompt: str, width: int, height: int, output_format: str, quality: int
) -> bytes:
    """Synthesize and encode in one step."""
    return encode(synthesize(seed, prompt, width, height), output_format, quality)


def placeholder(key: str) -> bytes:
    """A 512x512 PNG standing for an image known only by URL (never fetched)."""
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")
    return render(seed, key, 512, 512, "PNG", 95)
