"""The inspection code as pixels: QR modules (zxing-cpp), where the code goes on a screen, and
slides drawn around it so that it never covers a slogan's text or an image.

The layout rule (docs/playlists.md, "Inspection code"): the code is a square in a bottom
corner of the screen, at most ``size`` × the screen height on a side (quiet zone included,
rounded down to whole pixels per module). On a screen that shows codes, the slide's text, an
image or a clip is laid out only above the *code area*: the bottom ``code_area`` rows, the
largest code's side plus a margin above and below it. The area does not depend on the code
itself, so a slide is drawn once and any code can be put over it (mpv: as an overlay) without
covering a slogan pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from PIL import Image

from .. import render
from ..driver import InspectionCode
from ..i18n import _

POSITIONS = ("bottom-right", "bottom-left")
QUIET = 4  # modules of white around the symbol (ISO/IEC 18004)
ERROR_LEVEL = "m"


def qr_modules(text: str, error: str = ERROR_LEVEL) -> tuple[bytes, ...]:
    """The QR symbol for ``text``, one bytes object per row, 1 = dark module; no quiet zone.

    Written by zxing-cpp (a C++ encoder: the mode, the smallest version for ``error`` and the
    best of the 8 masks by the ISO/IEC 18004 penalty rules are chosen in C++, under 1 ms for
    a version-10 code; segno took 10-70 ms choosing the mask in pure Python)."""
    import zxingcpp  # only a box with codes on loads it

    sym = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode,
                                  ec_level=error.upper())
    img = memoryview(cast(Any, sym.to_image(scale=1, add_quiet_zones=False)))
    n = img.shape[0] if img.shape else 0
    raw = img.tobytes()
    if n * n != len(raw):  # the binding's image is one byte per module, 0 = dark
        raise ValueError(f"unexpected QR image from zxing-cpp: {img.shape}")
    flip = bytes.maketrans(bytes(range(256)), bytes([1] * 128 + [0] * 128))
    return tuple(raw[r * n:(r + 1) * n].translate(flip) for r in range(n))


@dataclass(frozen=True, slots=True)
class Box:
    x: int
    y: int
    side: int  # pixels, quiet zone included
    scale: int  # pixels per module

    @property
    def top(self) -> int:
        return self.y


def _margin(height: int) -> int:
    return max(2, height // 60)


def code_area(width: int, height: int, size: float) -> int:
    """Rows at the bottom of a ``width`` × ``height`` screen kept free of content for the
    code: the largest side a code can get (``size`` × height, at most half the width) and a
    margin above and below it."""
    side_max = min(int(height * size), width // 2)
    return max(0, min(height - 1, side_max + 2 * _margin(height)))


def code_box(width: int, height: int, modules: int, position: str, size: float) -> Box | None:
    """Where a code of ``modules`` modules goes on a ``width`` × ``height`` screen, or None
    when it would get less than 2 pixels per module (too small to read). The box lies
    inside the code area (``code_area``), a margin from the bottom and side edges."""
    n = modules + 2 * QUIET
    side_max = min(int(height * size), width // 2)
    scale = side_max // n
    if scale < 2:
        return None
    side = scale * n
    margin = _margin(height)
    if position == "bottom-center":  # the code slide's
        x = (width - side) // 2
    else:
        x = width - side - margin if position == "bottom-right" else margin
    y = height - side - margin
    return Box(x, y, side, scale)


def code_tile(code: InspectionCode, scale: int) -> Image.Image:
    """The code as an "L" image, ``scale`` pixels per module, quiet zone included."""
    rows = code.modules
    n = len(rows)
    small = Image.frombytes("L", (n, n), b"".join(bytes(0 if v else 255 for v in r)
                                                 for r in rows))
    side = (n + 2 * QUIET) * scale
    tile = Image.new("L", (side, side), 255)
    tile.paste(small.resize((n * scale, n * scale), Image.Resampling.NEAREST),
               (QUIET * scale, QUIET * scale))
    return tile


def code_overlay(code: InspectionCode, width: int, height: int) -> tuple[Box, bytes] | None:
    """The code as raw BGRA pixels (opaque, quiet zone included) and where it goes on the
    screen, for a player that draws it over whatever plays (mpv's ``overlay-add``); None
    when the screen is too small for it."""
    box = code_box(width, height, len(code.modules), code.position, code.size)
    if box is None:
        return None
    return box, code_tile(code, box.scale).convert("RGBA").tobytes("raw", "BGRA")


def write_code_overlay(code: InspectionCode, width: int, height: int,
                       out: BinaryIO) -> Box | None:
    """``code_overlay``'s pixels written to ``out`` band by band (the same bytes): the whole
    BGRA tile is never held (0.75 MB at 1080p, twice over while converted: the daemon's
    memory peak, docs/benchmarks.md). None (nothing written) when the screen is too small."""
    box = code_box(width, height, len(code.modules), code.position, code.size)
    if box is None:
        return None
    tile = code_tile(code, box.scale)
    for y in range(0, tile.height, _BAND):
        band = tile.crop((0, y, tile.width, min(tile.height, y + _BAND)))
        out.write(band.convert("RGBA").tobytes("raw", "BGRA"))
    return box


_BAND = 32  # rows of the overlay converted at a time


def content_height(width: int, height: int, size: float) -> int:
    """How many rows from the top a slide's content may use on a screen showing codes."""
    return max(1, height - code_area(width, height, size))


def place_code(img: Image.Image, code: InspectionCode) -> Box | None:
    """Paste ``code`` on ``img`` (in place) at its box; None (nothing drawn) when too small."""
    box = code_box(img.width, img.height, len(code.modules), code.position, code.size)
    if box is None:
        return None
    tile = code_tile(code, box.scale)
    if img.mode == "P":  # an indexed slide (render.Ramps): its palette ends black, white
        tile = tile.point(lambda v: render.INDEX_WHITE if v else render.INDEX_BLACK)
        tile.putpalette(img.getpalette() or [])  # same palette: indices pasted as they are
    else:
        tile = tile.convert(img.mode)
    img.paste(tile, (box.x, box.y))
    return box


def slide_above_code(text: str, width: int, height: int, size: float, *,
                     anti_fraud: bool = True, category: str | None = None,
                     indexed: bool = False) -> Image.Image | None:
    """A text slide (or an alert) laid out above the code area, or None when the text does
    not fit there (it then gets the whole slide and no code: the code never covers a
    slogan). RGB, or with ``indexed`` mode "P" (render.Ramps: what the drivers write)."""
    try:
        return render.render_slide(text, width, height, anti_fraud=anti_fraud,
                                   category=category,
                                   clear_bottom=code_area(width, height, size),
                                   indexed=indexed)
    except render.TextDoesNotFit:
        return None


def fit_above_code(src: Image.Image, width: int, height: int, size: float) -> Image.Image:
    """``src`` fitted (aspect kept) into the part above the code area, on black."""
    avail = content_height(width, height, size)
    img = src.convert("RGB")
    img.thumbnail((width, avail))
    canvas = render.blank("RGB", width, height)  # rows outside the picture stay free
    canvas.paste(img, ((width - img.width) // 2, (avail - img.height) // 2))
    return canvas


def image_above_code(path: Path, width: int, height: int, size: float) -> Image.Image:
    """An image fitted (aspect kept) into the part above the code area, on black. Raises
    OSError/ValueError for an unreadable image."""
    with Image.open(path) as src:
        src.draft("RGB", (width, content_height(width, height, size)))
        return fit_above_code(src, width, height, size)


def slide_with_code(text: str, width: int, height: int, code: InspectionCode,
                    *, anti_fraud: bool = True, category: str | None = None,
                    indexed: bool = False) -> Image.Image:
    """A text slide laid out above the code area, and the code; a text too long to fit
    there gets the whole slide and no code (the code never covers a slogan). RGB, or with
    ``indexed`` mode "P" (render.Ramps: what the drivers write)."""
    img = slide_above_code(text, width, height, code.size, anti_fraud=anti_fraud,
                           category=category, indexed=True)
    if img is None:
        return render.render_slide(text, width, height, anti_fraud=anti_fraud,
                                   category=category, indexed=indexed)
    place_code(img, code)
    return img if indexed else img.convert("RGB")


def image_with_code(path: Path, width: int, height: int, code: InspectionCode) -> Image.Image:
    """An image fitted (aspect kept) into the part above the code area, on black, and the
    code. Raises OSError/ValueError for an unreadable image."""
    canvas = image_above_code(path, width, height, code.size)
    place_code(canvas, code)
    return canvas


#: an LED board's quiet zone: its frame around the lit area is dark, so the code brings its
#: own lit margin; 2 modules (ISO asks 4) lets a 64-row board hold a version-10 code
LED_QUIET = 2


def led_rows_needed(modules: int) -> int:
    return modules + 2 * LED_QUIET


def led_with_code(text: str, width: int, height: int, code: InspectionCode,
                  font_pattern: str | None = None) -> Image.Image | None:
    """An LED board's static page with the code at its right end (one or more LEDs per
    module, lit quiet zone, unlit dark modules) and the text beside it, or None when the
    board is too low for the code or the text does not fit beside it as a static line (the
    item then plays as usual, scrolling, without a code: its planned duration stays right).
    Mode "1", lit = 1."""
    n = len(code.modules)
    need = led_rows_needed(n)
    if height < need:
        return None
    scale = height // need
    side = need * scale
    gap = max(2, scale * 2)
    line = render.render_line(text, height, font_pattern).point(lambda v: 255 if v >= 128
                                                                 else 0)
    room = width - side - gap
    if line.width > room or room <= 0:
        return None
    canvas = Image.new("L", (width, height), 0)
    canvas.paste(line, ((room - line.width) // 2, 0))
    small = Image.frombytes("L", (n, n), b"".join(bytes(0 if v else 255 for v in r)
                                                 for r in code.modules))
    tile = Image.new("L", (side, side), 255)
    tile.paste(small.resize((n * scale, n * scale), Image.Resampling.NEAREST),
               (LED_QUIET * scale, LED_QUIET * scale))
    canvas.paste(tile, (width - side, (height - side) // 2))
    return canvas.convert("1")


#: the largest figures a day can bring (for the size a screen must hold): a showing a second,
#: a gap of a whole day, a log of 2**40 records
_WORST = {"af_today": 86_400, "worst_gap_ms": 86_400_000, "seq": 2**40}


def worst_modules(site_id: str, screen_id: str, hub_url: str) -> int:
    """Modules on a side of the largest code this screen can show (without quiet zone)."""
    from .statement import Statement

    st = Statement(site_id, screen_id, 2**32 - 1, True, _WORST["af_today"],
                   _WORST["worst_gap_ms"], _WORST["seq"], bytes(16), "0" * 16)
    body = st.body() + bytes(64)
    import base64

    text = hub_url.rstrip("/") + "/v/" + base64.urlsafe_b64encode(body).rstrip(b"=").decode()
    return len(qr_modules(text))


def code_fit(site_id: str, screen_id: str, hub_url: str, width: int, height: int,
             draws: bool, size: float, led: bool = False) -> tuple[bool, str]:
    """Whether a screen shows the code, and why (for `signage validate`)."""
    n = worst_modules(site_id, screen_id, hub_url)
    if led:
        need = led_rows_needed(n)
        if height < need:
            return False, _("no code: an LED board needs at least {need} rows for this "
                            "site's code (one LED per module, a 2-module lit margin); "
                            "{height} here").format(need=need, height=height)
        return True, _("yes: code {side} LEDs high beside static anti-fraud slogans "
                       "(a slogan too long to stand beside it scrolls without a code)"
                       ).format(side=need * (height // need))
    need = n + 2 * QUIET
    if not draws:
        return False, _("no code: this screen's driver does not draw one")
    box = code_box(width, height, n, "bottom-right", size)
    if box is None:
        return False, _("no code: {w}x{h} gives less than 2 px per module; needs a code "
                        "side of {side} px (size × height)").format(w=width, h=height,
                                                                    side=2 * need)
    return True, _("yes: code {side} px ({n} modules + quiet zone, {scale} px each), "
                   "slogan text laid out above it").format(side=box.side, n=n,
                                                           scale=box.scale)


__all__ = [
    "ERROR_LEVEL",
    "LED_QUIET",
    "POSITIONS",
    "QUIET",
    "Box",
    "code_area",
    "code_box",
    "code_fit",
    "code_overlay",
    "code_tile",
    "content_height",
    "fit_above_code",
    "image_above_code",
    "image_with_code",
    "led_rows_needed",
    "led_with_code",
    "place_code",
    "qr_modules",
    "slide_above_code",
    "slide_with_code",
    "worst_modules",
    "write_code_overlay",
]
