"""Every kind of anti-fraud showing on real mpv carries the code, drawn by mpv as an overlay
over whatever plays, read back from a real X screen (Xvfb, vo=x11, ffmpeg x11grab): an image
fitted above the code area, a clip scaled into the part above it, an urgent alert laid out
above it; a store item that follows shows no code, nor does an image that was not prepared.
Nothing of the content lies under the code.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageChops
from signage_drivers.mpv.driver import MpvDriver

from signage import render
from signage.alerts import ALERT_CATEGORY
from signage.driver import DriverContext, InspectionCode, ItemKind, ScreenSpec, Showable
from signage.inspection.check import read_codes
from signage.inspection.picture import code_area, code_box, qr_modules
from signage.inspection.statement import Statement, sign
from signage.keys import SigningKey
from signage.runtime.clock import RealClock
from tests.xscreen import XScreen

KEY = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
W, H = 1280, 720


def _code(i: int, position: str) -> InspectionCode:
    st = Statement("demo-mall", "hall", 1796090400 + i, True, 5 + i, 40_000, 77 + i,
                   bytes(16), KEY.key_id)
    url = sign(st, KEY).url("https://hub.example.cn")
    return InspectionCode(url, qr_modules(url), position, 0.4)


def _settled(screen: XScreen, path: Path, want: list[str]) -> Image.Image:
    """The screen once it shows exactly the codes ``want`` (the overlay follows the confirmed
    start by a redraw; a removed one by the next frame)."""
    deadline = time.monotonic() + 20
    while True:
        frame = screen.grab(path)
        if read_codes(path) == want or time.monotonic() > deadline:
            assert read_codes(path) == want
            return frame
        time.sleep(0.05)


def _band_outside_box(frame: Image.Image, code: InspectionCode) -> Image.Image:
    """The code area (bottom rows) with the code's box blacked out."""
    box = code_box(W, H, len(code.modules), code.position, code.size)
    assert box is not None
    band = frame.convert("L").copy()
    band.paste(0, (box.x, box.y, box.x + box.side, box.y + box.side))
    return band.crop((0, H - code_area(W, H, code.size), W, H))


def test_image_clip_and_alert_carry_the_code_over_them_on_real_mpv(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    media = tmp_path / "media"
    media.mkdir()
    poster = media / "poster.png"
    Image.new("RGB", (800, 800), (255, 255, 255)).save(poster)
    clip = media / "clip.mp4"
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=white:size=320x240:rate=25", "-t", "20", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(clip)], check=True, timeout=120)
    with XScreen(W, H) as screen:
        monkeypatch.setenv("DISPLAY", screen.display)
        spec = ScreenSpec("hall", W, H, {"vo": "x11", "fullscreen": False,
                                         "start_timeout_s": 20.0, "show_timeout_s": 10.0,
                                         "reply_timeout_s": 2.0}, media)
        drv = MpvDriver(spec, DriverContext(RealClock(), tmp_path / "run"))
        drv.open()
        try:
            # an image: fitted above the code area, nothing but black beside the code
            code = _code(1, "bottom-right")
            item = Showable("poster", ItemKind.IMAGE, 8.0, True, path=poster, code=code)
            drv.prepare(item)
            drv.show(item)
            frame = _settled(screen, tmp_path / "image.png", [code.text])
            top = frame.convert("L").crop((0, 0, W, H - code_area(W, H, code.size)))
            assert top.getextrema()[1] > 200  # the white poster is there
            assert _band_outside_box(frame, code).getextrema()[1] < 40
            # a clip (white picture), not prepared: scaled into the part above the code area
            code = _code(2, "bottom-left")
            drv.show(Showable("clip", ItemKind.CLIP, 20.0, True, path=clip, code=code))
            frame = _settled(screen, tmp_path / "clip.png", [code.text])
            top = frame.convert("L").crop((0, 0, W, H - code_area(W, H, code.size)))
            assert top.getextrema()[1] > 200
            assert _band_outside_box(frame, code).getextrema()[1] < 40
            # an urgent alert: laid out above the code area; outside the code's box the
            # screen is the alert slide drawn for a screen with codes
            code = _code(3, "bottom-right")
            text = "台风红色预警\n请留在室内，远离门窗\n市气象台"
            alert = Showable("alert-1", ItemKind.TEXT, 10.0, True, text,
                             category=ALERT_CATEGORY, code=code)
            drv.show(alert)
            frame = _settled(screen, tmp_path / "alert.png", [code.text])
            bare = render.render_slide(text, W, H, category=ALERT_CATEGORY,
                                       clear_bottom=code_area(W, H, code.size))
            box = code_box(W, H, len(code.modules), code.position, code.size)
            assert box is not None
            inside = (box.x, box.y, box.x + box.side, box.y + box.side)
            under = bare.crop(inside).convert("L")
            assert under.getextrema()[0] == under.getextrema()[1], "alert text under the code"
            delta = ImageChops.difference(frame, bare).convert("L").point(
                lambda v: 255 if v > 40 else 0).getbbox()
            assert delta is not None
            assert (delta[0] >= inside[0] - 2 and delta[1] >= inside[1] - 2
                    and delta[2] <= inside[2] + 2 and delta[3] <= inside[3] + 2)
            # a store item: the overlay is gone before it shows
            drv.show(Showable("promo", ItemKind.TEXT, 5.0, False, "本周大米特价"))
            assert drv.overlay_code is None
            _settled(screen, tmp_path / "store.png", [])
            # an anti-fraud image that was not prepared: whole, without a code (the switch
            # never decodes and redraws an image to make room for one)
            other = media / "other.png"
            Image.new("RGB", (640, 360), (255, 255, 255)).save(other)
            code = _code(4, "bottom-right")
            drv.show(Showable("other", ItemKind.IMAGE, 5.0, True, path=other, code=code))
            assert drv.overlay_code is None
            _settled(screen, tmp_path / "unprepared.png", [])
            fitted = list((tmp_path / "run").rglob("images/*.png"))
            assert len(fitted) == 1, fitted  # the poster's, drawn in prepare(); not this one
        finally:
            drv.close()
