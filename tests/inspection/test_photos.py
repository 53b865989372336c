"""Real frames with the code (simulator frames, and what real mpv shows on a real X screen:
Xvfb, vo=x11, the code an overlay read back with ffmpeg's x11grab), degraded as a phone photo
of the whole screen sent through a chat app: zxing-cpp must read the exact code from every one
of 200; and the code covers no slogan text."""

from __future__ import annotations

import random
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageChops
from signage_drivers.mpv.driver import MpvDriver
from signage_drivers.simulator import SimulatorDriver

from signage import render
from signage.driver import DriverContext, InspectionCode, ItemKind, ScreenSpec, Showable
from signage.inspection.check import read_codes
from signage.inspection.picture import code_area, code_box, qr_modules
from signage.inspection.statement import Statement, sign
from signage.keys import SigningKey
from signage.runtime.clock import RealClock
from tests.inspection.photo import phone_photo
from tests.xscreen import XScreen

KEY = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
SLOGANS = ["凡是公检法要求转账汇款的都是诈骗", "凡是刷单返利的都是诈骗",
           "凡是自称客服主动提出退款的都是诈骗，请拨打96110咨询",
           "防范电信诈骗，人人参与，家家受益",
           "凡是网上投资理财推荐“内幕消息”、稳赚不赔、高额回报的都是诈骗，切勿轻信"]


def _code(i: int, position: str) -> InspectionCode:
    st = Statement("demo-mall", f"checkout-hdmi-{i % 3}", 1796090400 + 61 * i, True, 400 + i,
                   50000 + 37 * i, 18000 + 97 * i, bytes((i * 7 + j) % 256 for j in range(16)),
                   KEY.key_id)
    url = sign(st, KEY).url("https://hub.example.cn")
    return InspectionCode(url, qr_modules(url), position, 0.4)


def _item(i: int, code: InspectionCode) -> Showable:
    return Showable(f"af{i}", ItemKind.TEXT, 8.0, True, SLOGANS[i % len(SLOGANS)], code=code)


def _assert_text_not_covered(frame: Image.Image, item: Showable, tolerance: int = 0,
                             bleed: int = 0) -> None:
    """The frame is the slide laid out above the code plus the code: outside the code's box it
    equals that slide (within ``tolerance`` per channel and ``bleed`` pixels: mpv's video path
    converts to YUV and back), and that slide has no text pixel inside the box."""
    code = item.code
    assert code is not None
    w, h = frame.size
    box = code_box(w, h, len(code.modules), code.position, code.size)
    assert box is not None
    bare = render.render_slide(item.text, w, h, clear_bottom=code_area(w, h, code.size))
    inside = (box.x, box.y, box.x + box.side, box.y + box.side)
    bg = Image.new("RGB", (box.side, box.side), (160, 20, 20))
    assert ImageChops.difference(bare.crop(inside), bg).getbbox() is None, "text under code"
    delta = ImageChops.difference(frame.convert("RGB"), bare).convert("L")
    diff = delta.point(lambda v: 255 if v > tolerance else 0).getbbox()
    assert diff is not None
    assert (diff[0] >= inside[0] - bleed and diff[1] >= inside[1] - bleed
            and diff[2] <= inside[2] + bleed and diff[3] <= inside[3] + bleed), (diff, inside)


def grab_settled(screen: XScreen, path: Path, item: Showable) -> Image.Image:
    """The X screen once mpv has drawn ``item``'s code over it (the overlay follows the
    confirmed start by a redraw): grabbed until the screen holds that code and no other."""
    code = item.code
    assert code is not None
    deadline = time.monotonic() + 20
    while True:
        frame = screen.grab(path)
        if read_codes(path) == [code.text] or time.monotonic() > deadline:
            return frame
        time.sleep(0.05)


def _photo_decodes(job: tuple[Image.Image, str, int, int, int, Path]
                   ) -> tuple[tuple[int, int], bool]:
    """Photo ``k`` of frame ``j``: made from its own seed, saved as a phone sends it, decoded
    by zxing-cpp; kept as failed-K-J.jpg when the code is not read back exactly."""
    frame, text, seed, k, j, tmp = job
    photo = phone_photo(frame, random.Random(seed))
    p = tmp / f"photo-{k}-{j}.jpg"
    photo.save(p, quality=95)
    ok = text in read_codes(p)
    if ok:
        p.unlink()
    else:
        p.rename(tmp / f"failed-{k}-{j}.jpg")
    return (k, j), ok


def test_200_degraded_photos_of_real_frames_all_decode(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # (no time bound: every wait on mpv and the X screen is bounded where it happens, and the
    # rest is a fixed amount of image work that a busy machine slows but cannot hang)
    frames: list[tuple[Image.Image, str]] = []
    # simulator frames, as the simulator driver writes them (var/sim/<screen>.png)
    for i, (w, h) in enumerate([(1920, 1080), (1280, 720)] * 10):
        spec = ScreenSpec(f"sim{i}", w, h, {"kind": "hdmi"}, tmp_path)
        drv = SimulatorDriver(spec, DriverContext(RealClock(), tmp_path / "run"))
        drv.open()
        item = _item(i, _code(i, "bottom-right" if i % 2 else "bottom-left"))
        drv.prepare(item)
        drv.show(item)
        with Image.open(tmp_path / "run" / "sim" / f"sim{i}.png") as f:
            frame = f.convert("RGB")
        _assert_text_not_covered(frame, item)
        frames.append((frame, item.code.text if item.code else ""))
        drv.close()
    # real mpv on a real X screen: the slide, and the code mpv draws over it (an overlay)
    with XScreen(1280, 720) as screen:
        spec = ScreenSpec("hdmi", 1280, 720, {"vo": "x11", "fullscreen": False,
                                              "start_timeout_s": 20.0, "show_timeout_s": 10.0,
                                              "reply_timeout_s": 2.0}, tmp_path)
        mpv = MpvDriver(spec, DriverContext(RealClock(), tmp_path / "mpvrun"))
        monkeypatch.setenv("DISPLAY", screen.display)
        mpv.open()
        try:
            for i in range(20, 40):
                item = _item(i, _code(i, "bottom-right" if i % 2 else "bottom-left"))
                mpv.prepare(item)
                mpv.show(item)
                assert mpv.overlay_code == (item.code.text if item.code else None)
                frame = grab_settled(screen, tmp_path / f"shot{i}.png", item)
                _assert_text_not_covered(frame, item, tolerance=40, bleed=2)
                frames.append((frame, item.code.text if item.code else ""))
        finally:
            mpv.close()
    assert len(frames) == 40
    rng = random.Random(15)
    jobs = [(frame, text, rng.getrandbits(64), k, j, tmp_path)
            for k in range(5) for j, (frame, text) in enumerate(frames)]
    # two worker processes make and decode the 200 photos side by side (each from its seed)
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(_photo_decodes, jobs))
    n = len(results)
    failures = [kj for kj, ok in results if not ok]
    assert n == 200
    assert not failures, f"{len(failures)} of 200 photos not decoded: {failures[:10]}"
