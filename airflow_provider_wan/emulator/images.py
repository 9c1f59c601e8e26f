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
    """The RGB image for (seed, prompt) at exactly ``width`` x ``height``.

    A diagonal gradient between two colours, a checker of ``2..7`` bands blended with a third
    colour, and the seed written in the corner; all three colours and the band count come from
    a hash of (seed, prompt).
    """
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    c1 = (digest[0], digest[1], digest[2])
    c2 = (digest[3], digest[4], digest[5])
    c3 = (digest[6], digest[7], digest[8])
    bands = 2 + digest[9] % 6
    size = _canvas_size(width, height)
    gradient = Image.linear_gradient("L").rotate(45, resample=Image.Resampling.BILINEAR)
    gradient = gradient.crop((48, 48, 208, 208)).resize(size, Image.Resampling.BILINEAR)
    canvas = Image.composite(Image.new("RGB", size, c2), Image.new("RGB", size, c1), gradient)
    checker = Image.new("L", (bands, bands))
    checker.putdata([255 * ((x + y) % 2) for y in range(bands) for x in range(bands)])
    checker = checker.resize(size, Image.Resampling.NEAREST)
    tinted = Image.blend(canvas, Image.new("RGB", size, c3), 0.5)
    canvas = Image.composite(tinted, canvas, checker)
    ink = (255 - c1[0], 255 - c1[1], 255 - c1[2])
    ImageDraw.Draw(canvas).text((2, 2), str(seed), fill=ink)
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
