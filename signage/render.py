"""Text to pixels, in one place: the simulator, the LED driver, mpv slides and audit reports
all draw slogans through this module.

Fonts are found through fontconfig (``fc-match``), never by a hard-coded path, so a site can
install any CJK font. GNU Unifont is the pixel font for boards up to 16 px high; WenQuanYi
Micro Hei (or Noto CJK) for taller boards and slides. A character the font cannot draw is one
that FreeType draws as the font's "missing glyph" (.notdef): we compare each character's
rendered mask with that of two code points no font maps (U+10FFFD, U+0378).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFont

from .alerts import ALERT_CATEGORY, DRILL_MARK
from .i18n import _
from .sanitize import sanitize as sanitize  # (re-exported: its home is sanitize.py)

#: fontconfig patterns tried in order; the first that resolves to a CJK-capable file wins.
PIXEL_FONT = "Unifont"
SMOOTH_FONT = "WenQuanYi Micro Hei"
FALLBACKS = ("Noto Sans CJK SC", "WenQuanYi Zen Hei", "Unifont")

#: the largest picture any part of signage decodes: 8K UHD (7680 x 4320 = 33.2 megapixels),
#: and no side longer than 16384 px. A 13,000 x 13,000 PNG would take ~500 MB decoded; it is
#: refused by `signage validate` and by every driver before a byte of it is decoded. (Pillow's
#: own guard, left at its default, refuses anything past ~179 megapixels already at open.)
MAX_PIXELS = 7680 * 4320
MAX_SIDE = 16384


class ImageTooLarge(ValueError):
    """A picture larger than MAX_PIXELS / MAX_SIDE: refused before it is decoded."""


def _too_large_text(width: int, height: int) -> str:
    return _("the picture is {w}x{h} pixels ({mp:.1f} megapixels): larger than signage "
             "decodes (at most {side} px a side and {maxmp:.1f} megapixels, 8K); scale it "
             "down to the screen's size").format(
                 w=width, h=height, mp=width * height / 1e6, side=MAX_SIDE,
                 maxmp=MAX_PIXELS / 1e6)


def size_problem(width: int, height: int) -> str | None:
    """Why a picture of this size is refused, or None when it may be decoded."""
    if width <= 0 or height <= 0:
        return _("the picture has no size ({w}x{h})").format(w=width, h=height)
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        return _too_large_text(width, height)
    return None


def header_problem(path: Path) -> str | None:
    """Why the image at ``path`` would be refused for its size, from its header alone (for a
    driver that hands the file to another decoder, such as mpv); None when it may be shown
    or when Pillow cannot read it (that decoder then says why)."""
    try:
        with Image.open(path) as src:
            return size_problem(*src.size)
    except Image.DecompressionBombError as exc:
        return str(exc)
    except (OSError, ValueError, SyntaxError):
        return None


#: an LED board shows a picture legibly only if it is shrunk by at most this factor
MAX_LED_SHRINK = 4.0


def led_image_problem(width: int, height: int, board_w: int, board_h: int) -> str | None:
    """Why a ``width`` x ``height`` picture cannot be legible on a ``board_w`` x ``board_h``
    LED board (each LED one pixel): it is shrunk to fit, and a poster shrunk many times over
    lights a few dots (a 640x360 poster on a 128x16 board: 28x16 LEDs)."""
    if width <= 0 or height <= 0:
        return None
    scale = min(board_w / width, board_h / height, 1.0)
    if scale * MAX_LED_SHRINK >= 1.0:
        return None
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    return _("a {w}x{h} picture would be shrunk {k:.0f} times to {sw}x{sh} LEDs on this "
             "{bw}x{bh} board and cannot be legible; make the picture for the board "
             "({bw}x{bh} pixels, at most {m:g} times larger), or use a text item").format(
                 w=width, h=height, k=1 / scale, sw=w, sh=h, bw=board_w, bh=board_h,
                 m=MAX_LED_SHRINK)


def open_image(path: Path) -> Image.Image:
    """Open and decode an image, checking its size from the header before decoding.
    Raises ImageTooLarge, or OSError/ValueError for an undecodable file."""
    try:
        with Image.open(path) as src:
            why = size_problem(*src.size)
            if why:
                raise ImageTooLarge(why)
            src.load()
            return src.copy()
    except Image.DecompressionBombError as exc:  # Pillow refused at open: far too large
            raise ImageTooLarge(_("the picture is larger than signage decodes (at most {side} px "
                              "a side and {maxmp:.1f} megapixels, 8K): {exc}").format(
            side=MAX_SIDE, maxmp=MAX_PIXELS / 1e6, exc=exc)) from None


class FontNotFound(LookupError):
    pass


@functools.lru_cache(maxsize=32)
def find_font(pattern: str) -> Path:
    """Resolve a fontconfig pattern (or a path) to a font file that can draw Chinese."""
    p = Path(pattern)
    if p.suffix.lower() in {".ttf", ".otf", ".ttc", ".pcf", ".bdf"} and p.is_file():
        return p
    fc = shutil.which("fc-match")
    if fc is None:
        raise FontNotFound(_("fc-match not found: install fontconfig (apt install fontconfig)"))
    for pat in (pattern, *FALLBACKS):
        out = subprocess.run(  # argument list, no shell
            [fc, "-f", "%{file}", f"{pat}:lang=zh-cn"],
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout.strip()
        if out and "防" not in _missing(out, "防"):
            return Path(out)
    raise FontNotFound(_("no CJK font for {pattern}: install fonts-wqy-microhei and "
                         "fonts-unifont").format(pattern=repr(pattern)))


_NOTDEF_PROBES = ("\U0010fffd", "\u0378")


@functools.lru_cache(maxsize=32)
def _notdef(path: str) -> frozenset[tuple[tuple[int, int], bytes]]:
    font = _font_at(path, 16)
    return frozenset(_mask_key(font, ch) for ch in _NOTDEF_PROBES)


def _mask_key(font: ImageFont.FreeTypeFont, ch: str) -> tuple[tuple[int, int], bytes]:
    mask = font.getmask(ch, mode="1")
    return mask.size, bytes(mask)


@functools.lru_cache(maxsize=65536)
def _lacks(path: str, ch: str) -> bool:
    try:
        return _mask_key(_font_at(path, 16), ch) in _notdef(path)
    except OSError:
        return True


def _missing(path: str, text: str) -> list[str]:
    return [ch for ch in dict.fromkeys(text) if not ch.isspace() and _lacks(path, ch)]


# Each FreeType face maps its whole font file, and the pages it touches count in the daemon's
# RSS once per face (a CJK font is ~5 MB): keep few. Creating one takes about a millisecond,
# and rendered frames are cached by the drivers, so faces are rarely needed twice. Two: a
# slide needs its banner's and its text's (measured by the latter); each face kept beyond costs
# ~1-2 MiB of the daemon's 60 MB (docs/benchmarks.md: 4 faces held ~4 MiB more than 2).
@functools.lru_cache(maxsize=2)
def _font_at(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size=size)


def release_fonts() -> None:
    """Close the FreeType faces kept for the next drawing (their mapped font pages leave the
    daemon's RSS); the next drawing opens the ones it needs again (about a millisecond each)."""
    _font_at.cache_clear()


def font_for_height(px: int) -> str:
    """The default font pattern for a line of ``px`` pixels."""
    return PIXEL_FONT if px <= 16 else SMOOTH_FONT


def missing_glyphs(text: str, font_pattern: str) -> list[str]:
    """Characters of ``text`` that the font cannot draw (whitespace is always drawable)."""
    return _missing(str(find_font(font_pattern)), text)


#: an LED line is never drawn smaller than this (Unifont's native height)
MIN_LED_LINE_PX = 16


def text_lines(text: str) -> list[str]:
    """The lines of a slogan: an explicit line break (``\n``) starts a new line, e.g. for a
    two-line LED board; each line sanitized."""
    return [sanitize(line) for line in text.replace("\r\n", "\n").split("\n")]


def led_lines_problem(text: str, height: int) -> str | None:
    """Why ``text`` cannot be drawn on an LED board ``height`` px high, line by line."""
    n = len(text_lines(text))
    if n > 1 and height // n < MIN_LED_LINE_PX:
        return _("the slogan has {n} lines, but the board is {h} px high: each line needs at "
                 "least {px} px (a board {need} px high); write it on one line").format(
                     n=n, h=height, px=MIN_LED_LINE_PX, need=n * MIN_LED_LINE_PX)
    return None


def _font(font_pattern: str, size: int) -> ImageFont.FreeTypeFont:
    return _font_at(str(find_font(font_pattern)), size)


def _pixel_size(font_pattern: str, height: int) -> int:
    # Unifont is drawn crisp only at multiples of 16 px.
    if "unifont" in str(find_font(font_pattern)).lower():
        return max(16, (height // 16) * 16)
    return max(8, height)


def text_width(text: str, height: int, font_pattern: str | None = None) -> int:
    """Rendered width in pixels of ``text`` drawn ``height`` px high: one line, or the widest
    of its lines when it has explicit line breaks (each then height / lines px high)."""
    lines = text_lines(text)
    h = max(1, height // len(lines))
    pat = font_pattern or font_for_height(h)
    font = _font(pat, _pixel_size(pat, h))
    return max(round(font.getlength(line)) for line in lines)


def render_line(text: str, height: int, font_pattern: str | None = None) -> Image.Image:
    """The text, white on black, mode "L", exactly ``height`` px high, as wide as the text.
    A text with explicit line breaks is drawn as stacked lines (each height / lines px high,
    centred), for multi-line LED boards. On a pixel font at its native size the result is
    already 1-bit clean."""
    lines = text_lines(text)
    if len(lines) > 1:
        h = height // len(lines)
        imgs = [_render_one(line, h, font_pattern) for line in lines]
        width = max(im.width for im in imgs)
        out = Image.new("L", (width, height), 0)
        for k, im in enumerate(imgs):
            out.paste(im, ((width - im.width) // 2, k * h))
        return out
    return _render_one(lines[0], height, font_pattern)


def _render_one(text: str, height: int, font_pattern: str | None) -> Image.Image:
    pat = font_pattern or font_for_height(height)
    size = _pixel_size(pat, height)
    font = _font(pat, size)
    clean = sanitize(text)
    width = max(1, round(font.getlength(clean)))
    img = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(img)
    draw.fontmode = "1" if height <= 32 else "L"
    ascent, descent = font.getmetrics()
    y = (height - (ascent + descent)) // 2
    draw.text((0, y), clean, font=font, fill=255)
    return img


def render_bitmap(text: str, width: int, height: int, font_pattern: str | None = None,
                  scroll: bool = False) -> Image.Image:
    """A 1-bit image for an LED board: centred when it fits and ``scroll`` is off, otherwise
    the full line (the board scrolls it). Mode "1", lit = 1."""
    line = render_line(text, height, font_pattern).point(lambda v: 255 if v >= 128 else 0)
    if scroll or line.width > width:
        return line.convert("1")
    canvas = Image.new("L", (width, height), 0)
    canvas.paste(line, ((width - line.width) // 2, 0))
    return canvas.convert("1")


@dataclass(frozen=True, slots=True)
class SlideStyle:
    background: tuple[int, int, int] = (160, 20, 20)
    foreground: tuple[int, int, int] = (255, 255, 255)
    banner: str = "防范电信网络诈骗"


class TextDoesNotFit(ValueError):
    """A slide's text does not fit in the rows it may use (the inspection code keeps the
    rest): the caller shows the slide without the code."""


_ADVANCES: dict[tuple[str, int, int], dict[str, float]] = {}


def _advance_of(font: ImageFont.FreeTypeFont) -> dict[str, float]:
    """The advance of each character drawn alone, per font: a first guess at a line's length
    (shaping and kerning make the real one differ by a few pixels either way)."""
    key = (str(font.path), int(font.size), int(getattr(font, "index", 0)))
    table = _ADVANCES.get(key)
    if table is None:
        if len(_ADVANCES) > 64:
            _ADVANCES.clear()
        table = _ADVANCES[key] = {}
    return table


def wrap(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    """Greedy wrap by character (CJK has no spaces): each line is the longest run of the
    text that fits ``max_width`` as the font lays it out (``getlength``), and a space at a
    break is dropped. The run is first guessed from the characters' advances, then moved to
    the exact break with a few real measurements, so a line costs about three layouts, not
    one per character; the result is that of extending the line one character at a time."""
    adv = _advance_of(font)
    if len(adv) > 20000:
        adv.clear()

    def width(ch: str) -> float:
        w = adv.get(ch)
        if w is None:
            w = adv[ch] = font.getlength(ch)
        return w

    def fits(s: str) -> bool:
        return font.getlength(s) <= max_width

    lines: list[str] = []
    cur = ""
    i, n = 0, len(text)
    while i < n:
        if not cur:
            cur = text[i]  # a line holds at least one character
            i += 1
            continue
        guess = sum(width(c) for c in cur)
        j = i
        while j < n and guess + width(text[j]) <= max_width:
            guess += width(text[j])
            j += 1
        while j > i and not fits(cur + text[i:j]):
            j -= 1
        while j < n and fits(cur + text[i:j + 1]):
            j += 1
        cur += text[i:j]
        i = j
        if i < n:  # text[i] does not fit: it begins the next line (a space is dropped)
            lines.append(cur)
            cur = text[i].lstrip()
            i += 1
    if cur:
        lines.append(cur)
    return lines


#: slide text sizes: a short ladder, so a daemon holds a few FreeType faces (each ~1.6 MB),
#: not one per size tried
SIZE_LADDER = (12, 16, 20, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192)
_REF = 100  # glyph advances scale linearly with the size: measure once at this size


def _ladder(px: float) -> int:
    fit = [s for s in SIZE_LADDER if s <= px]
    return fit[-1] if fit else SIZE_LADDER[0]


RGB = tuple[int, int, int]


def blank(mode: str, width: int, height: int) -> Image.Image:
    """A black (all-zero) image whose rows become resident only once drawn on: Pillow's
    ``new`` without a colour is calloc'd memory (fresh pages; reading an untouched one maps
    the kernel's shared zero page), where ``new`` with a colour writes every byte (8.3 MB at
    1920x1080 RGB). Pillow documents that form as "not initialised": checked, and filled if a
    Pillow ever hands back something else."""
    img = Image.new(mode, (width, height), None)
    if img.getbbox() is not None:
        img.paste(0, (0, 0, width, height))
    return img

#: every indexed slide's palette ends with these two entries, for the inspection code
INDEX_BLACK, INDEX_WHITE = 254, 255


class Ramps:
    """The palette of a slide drawn in 8 bits a pixel (Pillow mode "P": 2 MB at 1920x1080,
    against 8.3 MB in RGB, which Pillow keeps at 4 bytes a pixel; the daemon's memory budget,
    docs/benchmarks.md). Ramp k is ``n`` consecutive entries going from a background colour
    to an ink colour. A region filled with ``base(k)`` and text drawn on it with ``ink(k)``
    (anti-aliased, in mode "L") blends into exactly those entries, as Pillow blends each
    channel of an RGB slide: the same picture, with 1/(n-1) steps of coverage instead of
    1/255. Solid colours (no anti-aliasing) follow the ramps; black and white end it."""

    def __init__(self, pairs: tuple[tuple[RGB, RGB], ...], solids: tuple[RGB, ...] = ()):
        self.n = (INDEX_BLACK - len(solids)) // len(pairs)
        pal: list[int] = []
        for bg, fg in pairs:
            for i in range(self.n):
                pal += [round(b + (f - b) * i / (self.n - 1)) for b, f in zip(bg, fg,
                                                                             strict=True)]
        self._solid0 = len(pal) // 3
        for c in solids:
            pal += c
        pal += [0, 0, 0] * (INDEX_BLACK - len(pal) // 3) + [0, 0, 0, 255, 255, 255]
        self.palette = pal

    def base(self, k: int) -> int:
        return k * self.n

    def ink(self, k: int) -> int:
        return k * self.n + self.n - 1

    def solid(self, j: int) -> int:
        return self._solid0 + j

    def canvas(self, width: int, height: int) -> Image.Image:
        """A blank "L" canvas, all ``base(0)`` (see blank: rows never drawn on are never
        made resident)."""
        return blank("L", width, height)

    def finish(self, img: Image.Image, indexed: bool) -> Image.Image:
        img.putpalette(self.palette)  # "L" becomes "P" in place: the indices are the pixels
        return img if indexed else img.convert("RGB")


# an urgent alert (docs/alerts.md): its text is paragraphs (headline, description,
# instruction, sender), starting with DRILL_MARK when it is a drill


def render_alert(text: str, width: int, height: int, clear_bottom: int = 0, *,
                 indexed: bool = False) -> Image.Image:
    """A full-screen alert: a banner (紧急预警, or the drill mark), the headline large, then
    description, instruction and sender, each paragraph wrapped, as large as fits. No text
    is drawn in the bottom ``clear_bottom`` rows (raises TextDoesNotFit when it cannot). RGB,
    or with ``indexed`` mode "P" (see Ramps)."""
    drill = text.startswith(DRILL_MARK)
    paras = [sanitize(p).strip() for p in text.removeprefix(DRILL_MARK).split("\n")]
    paras = [p for p in paras if p]
    bg = (110, 0, 0) if not drill else (60, 60, 60)
    banner_pair = (((250, 210, 40), (120, 0, 0)) if not drill
                   else ((0, 160, 220), (255, 255, 255)))
    ramps = Ramps(((bg, (255, 255, 255)), banner_pair, (bg, (255, 240, 0))))
    body_k, banner_k, head_k = 0, 1, 2
    img = ramps.canvas(width, height)
    draw = ImageDraw.Draw(img)
    margin = max(4, width // 30)
    banner_h = max(14, height // 8)
    banner = "紧急预警 · 防范电信网络诈骗" if not drill else "演练 · 非真实警情 · 演练"
    bfont = _font(SMOOTH_FONT, _ladder(banner_h * 2 / 3))
    draw.rectangle((0, 0, width, banner_h), fill=ramps.base(banner_k))
    bw = bfont.getlength(banner)
    draw.text(((width - bw) / 2, (banner_h - bfont.size) / 2), banner, font=bfont,
              fill=ramps.ink(banner_k))
    avail_h = height - clear_bottom - banner_h - 2 * margin
    ref = _font(SMOOTH_FONT, _REF)
    max_w = width - 2 * margin
    size = _ladder(min(height / 10, width / 14))
    while True:
        head = wrap(paras[0], ref, int(max_w * _REF / round(size * 1.4))) if paras else []
        body = [ln for p in paras[1:] for ln in wrap(p, ref, int(max_w * _REF / size))]
        need = len(head) * int(size * 1.4 * 1.25) + len(body) * int(size * 1.3) + size // 2
        if need <= avail_h or size == SIZE_LADDER[0]:
            break
        size = _ladder(size - 1)
    if clear_bottom and need > avail_h:
        raise TextDoesNotFit(_("the alert needs {need} px; {free} px above the bottom {rows} "
                               "rows").format(need=need, free=max(0, avail_h),
                                              rows=clear_bottom))
    hfont = _font(SMOOTH_FONT, _ladder(size * 1.4))
    font = _font(SMOOTH_FONT, size)
    y = banner_h + margin + max(0, (avail_h - need) / 2)
    head_end = y + len(head) * int(size * 1.4 * 1.25)
    if head:  # the headline's rows: the same background colour, on the headline's ramp
        draw.rectangle((0, banner_h + 1, width, min(height, int(head_end))),
                       fill=ramps.base(head_k))
    for ln in head:
        draw.text(((width - hfont.getlength(ln)) / 2, y), ln, font=hfont,
                  fill=ramps.ink(head_k))
        y += int(size * 1.4 * 1.25)
    y += size // 2
    for ln in body:
        draw.text((margin, y), ln, font=font, fill=ramps.ink(body_k))
        y += int(size * 1.3)
    return ramps.finish(img, indexed)


def render_slide(text: str, width: int, height: int, *, style: SlideStyle = SlideStyle(),
                 anti_fraud: bool = True, category: str | None = None,
                 clear_bottom: int = 0, indexed: bool = False) -> Image.Image:
    """A full HDMI slide with the slogan wrapped and centred (an alert: render_alert), RGB, or
    with ``indexed`` mode "P" (see Ramps; what the drivers write: 1 byte a pixel). No text is
    drawn in the bottom ``clear_bottom`` rows (kept free for the inspection code)."""
    if category == ALERT_CATEGORY and anti_fraud:
        return render_alert(text, width, height, clear_bottom, indexed=indexed)
    bg = style.background if anti_fraud else (20, 60, 120)
    ramps = Ramps(((bg, style.foreground), ((250, 210, 40), (120, 0, 0))))
    img = ramps.canvas(width, height)
    draw = ImageDraw.Draw(img)
    margin = max(4, width // 20)
    banner_h = max(12, height // 10) if anti_fraud else 0
    if banner_h:
        bfont = _font(SMOOTH_FONT, _ladder(banner_h * 2 / 3))
        draw.rectangle((0, 0, width, banner_h), fill=ramps.base(1))
        bw = bfont.getlength(style.banner)
        draw.text(((width - bw) / 2, (banner_h - bfont.size) / 2), style.banner, font=bfont,
                  fill=ramps.ink(1))
    paragraphs = text_lines(text)  # explicit line breaks are kept; each is wrapped
    avail_h = max(1, height - clear_bottom - banner_h - 2 * margin)
    size = _ladder(min(height / 6, width / 8))
    # measured with the face of the first size tried, which usually is the size drawn: one
    # face fewer in memory than a separate reference size (advances scale with the size)
    ref = _font(SMOOTH_FONT, size)
    while True:
        lines = [ln for par in paragraphs
                 for ln in (wrap(par, ref, int((width - 2 * margin) * ref.size / size))
                            or [""])]
        line_h = int(size * 1.3)
        if len(lines) * line_h <= avail_h or size == SIZE_LADDER[0]:
            break
        size = _ladder(size - 1)
    if clear_bottom and len(lines) * line_h > avail_h:
        raise TextDoesNotFit(_("the text needs {n} lines of {h} px; {free} px are free above "
                               "the inspection code").format(n=len(lines), h=line_h,
                                                             free=avail_h))
    font = _font(SMOOTH_FONT, size)
    y = banner_h + margin + (avail_h - len(lines) * line_h) / 2
    for line in lines:
        lw = font.getlength(line)
        draw.text(((width - lw) / 2, y), line, font=font, fill=ramps.ink(0))
        y += line_h
    return ramps.finish(img, indexed)


def dot_matrix(bitmap: Image.Image, *, pitch: int = 4, color: tuple[int, int, int] = (255, 40, 20),
               offset_x: int = 0, width: int | None = None) -> Image.Image:
    """Draw a 1-bit LED bitmap as a dot matrix (what the board looks like from the street).
    ``offset_x`` scrolls the bitmap left; ``width`` is the board width in LEDs."""
    w = width or bitmap.width
    h = bitmap.height
    window = Image.new("L", (w, h), 0)
    window.paste(bitmap.convert("L"), (-offset_x, 0))
    lit = window.resize((w * pitch, h * pitch), Image.Resampling.NEAREST)
    dots = _tile(pitch, w, h)
    # one RGB image, painted through the two masks (both only 0 or 255): the same pixels as
    # compositing full-size "on", "off" and background images, without holding 4-5 of them
    # (2.4 MiB of the daemon's peak for a 1024x128 board picture, docs/benchmarks.md)
    out = Image.new("RGB", lit.size, (15, 15, 15))
    out.paste((50, 20, 15), (0, 0), dots)
    out.paste(color, (0, 0), ImageChops.multiply(dots, lit))
    return out


@functools.lru_cache(maxsize=8)
def _dot_mask(pitch: int) -> Image.Image:
    cell = Image.new("L", (pitch, pitch), 0)
    r = max(1, pitch // 2 - 1)
    c = pitch // 2
    ImageDraw.Draw(cell).ellipse((c - r, c - r, c + r, c + r), fill=255)
    return cell


@functools.lru_cache(maxsize=8)
def _tile(pitch: int, w: int, h: int) -> Image.Image:
    cell = _dot_mask(pitch)
    row = Image.new("L", (w * pitch, pitch))
    for x in range(w):
        row.paste(cell, (x * pitch, 0))
    out = Image.new("L", (w * pitch, h * pitch))
    for y in range(h):
        out.paste(row, (0, y * pitch))
    return out


def clip_card(name: str, width: int, height: int, progress: float, *,
              indexed: bool = False) -> Image.Image:
    """What the simulator shows for a video clip: its name and a progress bar (RGB, or with
    ``indexed`` mode "P", see Ramps)."""
    ramps = Ramps((((25, 25, 35), (230, 230, 230)),), solids=((200, 200, 200), (80, 200, 120)))
    img = ramps.canvas(width, height)
    draw = ImageDraw.Draw(img)
    font = _font(SMOOTH_FONT, _ladder(min(height / 8, width / 12)))
    label = "▶ " + sanitize(name)
    draw.text((width * 0.05, height * 0.35), label, font=font, fill=ramps.ink(0))
    bar_y = int(height * 0.7)
    draw.rectangle((width * 0.05, bar_y, width * 0.95, bar_y + max(4, height // 30)),
                   outline=ramps.solid(0))
    filled = width * 0.05 + (width * 0.9) * max(0.0, min(1.0, progress))
    draw.rectangle((width * 0.05, bar_y, filled, bar_y + max(4, height // 30)),
                   fill=ramps.solid(1))
    return ramps.finish(img, indexed)
