"""Slides drawn in 8 bits a pixel (render.Ramps, mode "P"): the same picture as Pillow's own
RGB drawing, a quarter of the memory; and render.blank's untouched rows stay out of RSS."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

from signage import render
from signage.alerts import ALERT_CATEGORY
from signage.driver import InspectionCode
from signage.inspection.picture import code_box, qr_modules, slide_with_code

TEXT = "谨防冒充公检法诈骗：公检法机关不会通过电话办案，不会要求转账到“安全账户”。"
RED, WHITE, YELLOW, DARK = (160, 20, 20), (255, 255, 255), (250, 210, 40), (120, 0, 0)


def test_ramp_drawing_equals_pillows_rgb_drawing() -> None:
    """Text anti-aliased on a ramp is, converted, Pillow's RGB anti-aliasing within the
    ramp's step (1/(n-1) of the way from background to ink: at most 2 levels a channel)."""
    font = render._font(render.SMOOTH_FONT, 96)
    ramps = render.Ramps(((RED, WHITE), (YELLOW, DARK)))
    ref = Image.new("RGB", (1600, 300), RED)
    ImageDraw.Draw(ref).rectangle((0, 150, 1600, 300), fill=YELLOW)
    idx = ramps.canvas(1600, 300)
    ImageDraw.Draw(idx).rectangle((0, 150, 1600, 300), fill=ramps.base(1))
    for img, top, bottom in ((ref, WHITE, DARK), (idx, ramps.ink(0), ramps.ink(1))):
        d = ImageDraw.Draw(img)
        d.text((10, 10), TEXT[:14], font=font, fill=top)
        d.text((10, 160), TEXT[14:28], font=font, fill=bottom)
    out = ramps.finish(idx, indexed=True)
    assert out.mode == "P"
    diff = ImageChops.difference(out.convert("RGB"), ref)
    assert max(hi for _lo, hi in diff.getextrema()) <= 2
    assert ref.getcolors(1 << 20) is not None and len(ref.getcolors(1 << 20) or []) > 50


def test_indexed_slide_colours_and_code() -> None:
    url = "https://hub.example/v/" + "A" * 120
    code = InspectionCode(url, qr_modules(url))
    for w, h in ((1920, 1080), (1280, 720)):
        p = slide_with_code(TEXT, w, h, code, indexed=True)
        assert p.mode == "P" and p.size == (w, h)
        rgb = p.convert("RGB")
        assert rgb == slide_with_code(TEXT, w, h, code)  # the RGB form is this picture
        assert rgb.getpixel((w // 2, 2)) == YELLOW  # banner
        assert rgb.getpixel((3, h // 2)) == RED  # background
        colours = {c for _n, c in rgb.getcolors(1 << 16) or []}
        assert WHITE in colours and DARK in colours  # text cores: the ramps' inks
        box = code_box(w, h, len(code.modules), code.position, code.size)
        assert box is not None
        tile = rgb.crop((box.x, box.y, box.x + box.side, box.y + box.side))
        assert {c for _n, c in tile.getcolors(4) or []} == {(0, 0, 0), WHITE}
    alert = render.render_slide("地震预警\n请立即避险", 1280, 720, category=ALERT_CATEGORY,
                                indexed=True)
    assert alert.mode == "P"


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_blank_is_black_and_not_resident() -> None:
    before = _rss_kib()
    img = render.blank("RGB", 1920, 1080)  # 8.3 MB if every byte were written
    assert img.getbbox() is None  # all black (reading maps the shared zero page)
    grew = _rss_kib() - before
    img.paste((9, 9, 9), (0, 0, 1920, 10))
    assert img.getpixel((5, 5)) == (9, 9, 9) and img.getpixel((5, 500)) == (0, 0, 0)
    assert grew < 4 * 1024, f"blank() made {grew} KiB resident"
