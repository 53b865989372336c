"""BX-5E dot-matrix encoding (manual appendix 2, "BX-5E系列动态区编码规则"), pure.

* Row-major from the area's top-left pixel; within a byte bit 7 is the leftmost pixel.
* 0 = lit, 1 = dark.
* Bytes are aligned to the SCREEN's 8-pixel grid: an area starting at x = 35 has its first
  byte padded in the 3 high bits with 1s (``111*****``); the last byte of each row is padded
  in the low bits with 1s likewise.
* Two-colour boards: after each red byte comes the green byte of the same 8 pixels.

Images here are PIL mode "1" with lit = 1 (what :func:`signage.render.render_bitmap` gives).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from PIL import Image, ImageOps

COLOR_PLANES: Mapping[str, tuple[bool, bool]] = MappingProxyType(
    {"red": (True, False), "green": (False, True), "yellow": (True, True)})


def row_bytes(width: int, x: int = 0) -> int:
    """Bytes per row and colour of an area ``width`` px wide starting at screen column x."""
    return (x % 8 + width + 7) // 8


def bitmap_size(width: int, height: int, x: int = 0, colors: int = 1) -> int:
    return row_bytes(width, x) * height * colors


def pack_plane(img: Image.Image, x: int = 0) -> bytes:
    """One colour plane: lit pixels → 0 bits, everything else (incl. padding) → 1 bits."""
    src = img if img.mode == "1" else img.convert("1")
    left = x % 8
    canvas = Image.new("1", (row_bytes(src.width, x) * 8, src.height), 1)
    canvas.paste(0, (left, 0), mask=src)
    return canvas.tobytes()  # PIL packs mode "1" MSB first, each row whole bytes


def pack_bitmap(red: Image.Image, green: Image.Image | None = None, x: int = 0) -> bytes:
    """Mono (red only) or two-colour (red byte, then green byte, for every 8 pixels)."""
    r = pack_plane(red, x)
    if green is None:
        return r
    if green.size != red.size:
        raise ValueError(f"colour planes differ in size: {red.size} vs {green.size}")
    g = pack_plane(green, x)
    out = bytearray(2 * len(r))
    out[0::2] = r
    out[1::2] = g
    return bytes(out)


def unpack_plane(data: bytes, width: int, height: int, x: int = 0) -> Image.Image:
    """Inverse of :func:`pack_plane`: a mode "1" image, lit = 1, padding dropped."""
    padded = row_bytes(width, x) * 8
    raw = Image.frombytes("1", (padded, height), data)
    left = x % 8
    dark = raw.crop((left, 0, left + width, height))
    return ImageOps.invert(dark.convert("L")).convert("1", dither=Image.Dither.NONE)


def unpack_bitmap(data: bytes, width: int, height: int, x: int = 0,
                  colors: int = 1) -> tuple[Image.Image, Image.Image | None]:
    expected = bitmap_size(width, height, x, colors)
    if len(data) != expected:
        raise ValueError(f"bitmap of {len(data)} bytes, expected {expected} "
                         f"for {width}x{height} at x={x} in {colors} colour(s)")
    if colors == 1:
        return unpack_plane(data, width, height, x), None
    return (unpack_plane(data[0::2], width, height, x),
            unpack_plane(data[1::2], width, height, x))


def blank(width: int, height: int) -> Image.Image:
    return Image.new("1", (width, height), 0)


def planes_for_text(bitmap: Image.Image, colors: int,
                    color: str) -> tuple[Image.Image, Image.Image | None]:
    """Colour a lit=1 text bitmap: mono boards get it as the red plane."""
    if colors == 1:
        return bitmap, None
    use_red, use_green = COLOR_PLANES[color]
    empty = blank(bitmap.width, bitmap.height)
    return (bitmap if use_red else empty), (bitmap if use_green else empty)


def planes_for_image(img: Image.Image, width: int, height: int,
                     colors: int) -> tuple[Image.Image, Image.Image | None]:
    """Fit a picture into the board (aspect kept, centred, black bars) and threshold it:
    mono boards light a pixel when its luminance ≥ 50 %, two-colour boards threshold the red
    and green channels separately (yellow = both)."""
    rgb = img.convert("RGB")
    fitted = ImageOps.pad(rgb, (width, height), method=Image.Resampling.LANCZOS,
                          color=(0, 0, 0))

    def threshold(channel: Image.Image) -> Image.Image:
        return channel.point(lambda v: 255 if v >= 128 else 0).convert(
            "1", dither=Image.Dither.NONE)

    if colors == 1:
        return threshold(fitted.convert("L")), None
    r, g, _b = fitted.split()
    return threshold(r), threshold(g)


def paginate(line: Image.Image, width: int) -> list[tuple[Image.Image, int]]:
    """Cut a line wider than the area into area-wide pages for "continuous move left".

    Returns (page image, valid length) pairs: every page is exactly ``width`` wide (the manual
    encodes whole areas); the last page is padded dark and its valid length tells the board
    how many columns of it carry content (ValidLen, manual §5.4.1)."""
    pages: list[tuple[Image.Image, int]] = []
    for left in range(0, max(1, line.width), width):
        valid = min(width, line.width - left)
        page = blank(width, line.height)
        page.paste(line.crop((left, 0, left + valid, line.height)), (0, 0))
        pages.append((page, valid))
    return pages


def join_pages(pages: list[tuple[Image.Image, int]]) -> Image.Image:
    """Inverse of :func:`paginate`: the strip the board scrolls (for previews and tests)."""
    total = sum(valid for _img, valid in pages)
    height = pages[0][0].height if pages else 1
    strip = blank(max(1, total), height)
    left = 0
    for img, valid in pages:
        strip.paste(img.crop((0, 0, valid, img.height)), (left, 0))
        left += valid
    return strip
