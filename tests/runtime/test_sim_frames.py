"""The simulator draws a picture once per process: screens of one kind and size showing the
same item (an urgent alert on every HDMI screen) share one drawing; other sizes get their
own. Real drivers, real threads, real files."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from PIL import Image, ImageChops
from signage_drivers.simulator import SimulatorDriver

from signage import render
from signage.alerts import ALERT_CATEGORY
from signage.driver import DriverContext, ItemKind, ScreenSpec, Showable
from signage.runtime.clock import RealClock

ALERT = Showable("alert:GA-1", ItemKind.TEXT, 20.0, True,
                 "警惕冒充客服退款诈骗\n近期有骗子冒充电商客服，以退款为由诱导转账。\n—— 反诈中心",
                 category=ALERT_CATEGORY)


def _screen(tmp: Path, sid: str, w: int, h: int, heavy: threading.Lock) -> SimulatorDriver:
    spec = ScreenSpec(sid, w, h, {"kind": "hdmi"}, tmp / "media")
    d = SimulatorDriver(spec, DriverContext(clock=RealClock(), run_dir=tmp / "var",
                                            heavy=heavy))
    d.open()
    return d


def test_same_size_screens_share_one_drawing(tmp_path: Path) -> None:
    heavy = threading.Lock()
    screens = [_screen(tmp_path, f"hdmi-{i}", 1280, 720, heavy) for i in range(3)]
    other = _screen(tmp_path, "big", 1920, 1080, heavy)
    done: list[float] = []
    threads = [threading.Thread(target=lambda d=d: done.append(d.show(ALERT)))
               for d in [*screens, other]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(done) == 4
    sim = tmp_path / "var" / "sim"
    inodes = {os.stat(sim / f"hdmi-{i}.png").st_ino for i in range(3)}
    assert len(inodes) == 1, "three screens of one size: one drawing"
    assert os.stat(sim / "big.png").st_ino not in inodes
    for name, (w, h) in (("hdmi-0", (1280, 720)), ("big", (1920, 1080))):
        with Image.open(sim / f"{name}.png") as got:
            want = render.render_alert(ALERT.text, w, h)
            assert ImageChops.difference(got.convert("RGB"), want).getbbox() is None
    # each screen keeps its own link to the frame it showed (signage summary's pictures)
    assert all(any((sim / "frames" / f"hdmi-{i}").glob("*.png")) for i in range(3))


def test_a_frame_removed_from_disk_is_drawn_again(tmp_path: Path) -> None:
    heavy = threading.Lock()
    a = _screen(tmp_path, "a", 640, 360, heavy)
    a.show(ALERT)
    for p in (tmp_path / "var" / "sim" / "frames").rglob("*.png"):
        p.unlink()
    b = _screen(tmp_path, "b", 640, 360, heavy)
    b.show(ALERT)
    assert (tmp_path / "var" / "sim" / "b.png").stat().st_size > 0


def test_coded_alert_frames_are_the_slide_with_each_screens_code(tmp_path: Path) -> None:
    """With inspection codes on, each showing of an alert has its own code: the slide under
    it is laid out once per size (signage_drivers.simulator.alert_with_code) and each frame
    is, pixel for pixel, the slide drawn with that code; an alert too long for the space
    above the code is drawn whole, without one, as picture.slide_with_code does."""
    from dataclasses import replace

    from signage.driver import InspectionCode
    from signage.inspection.picture import qr_modules, slide_with_code
    from signage_drivers import simulator

    heavy = threading.Lock()
    long_text = "警惕诈骗\n" + "近期有骗子冒充电商客服，以退款为由诱导转账。" * 60
    for text in (ALERT.text, long_text):
        for w, h in ((1280, 720), (640, 360)):
            screens = [_screen(tmp_path / f"{w}-{len(text)}", f"hdmi-{i}", w, h, heavy)
                       for i in range(2)]
            for i, d in enumerate(screens):
                for n in range(2):  # a new code each showing
                    url = f"https://hub.example/v/{i}-{n}-" + "A" * 60
                    code = InspectionCode(url, qr_modules(url))
                    d.show(replace(ALERT, text=text, code=code))
                    with Image.open(d._out) as got:
                        want = slide_with_code(text, w, h, code, category=ALERT_CATEGORY,
                                               indexed=True)
                        assert got.mode == "P"
                        assert ImageChops.difference(got.convert("RGB"),
                                                     want.convert("RGB")).getbbox() is None
            key = (text, w, h, 0.4, True)
            assert key in simulator._BARE  # laid out once for this size
            assert (simulator._BARE[key] is None) == (text == long_text)
    assert len(simulator._BARE) <= simulator._BARE_MAX
