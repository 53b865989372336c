"""The picture of an HDMI screen for the console: mpv's own screenshot of what it shows."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image

from drivers.mpv.options import build_argv, parse_options
from signage.driver import ItemKind
from signage.runtime.status import frame_of
from signage.summary.render import screen_pictures

from .conftest import MakeDriver, Media, item


def _centre(p: Path) -> tuple[int, int, int]:
    """The pixel at the bottom centre (below a slide's text), as the pixel tests read it."""
    with Image.open(p) as img:
        assert img.format == "JPEG" and img.size == (320, 240)
        px = img.convert("RGB").getpixel((img.width // 2, img.height - 4))
    assert isinstance(px, tuple)
    return (int(px[0]), int(px[1]), int(px[2]))


def _close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 16) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_each_switch_leaves_the_picture_for_the_console(make_driver: MakeDriver, media: Media,
                                                        tmp_path: Path) -> None:
    run = tmp_path / "run"
    drv = make_driver()
    shot = run / "frames" / "hdmi-1.jpg"
    drv.show(item(ItemKind.IMAGE, media.blue, item_id="blue"))
    assert frame_of(run, "hdmi-1") == shot
    assert _close(_centre(shot), (0, 0, 255))
    drv.show(item(ItemKind.IMAGE, media.red, item_id="red"))
    assert _close(_centre(shot), (255, 0, 0))
    drv.show(item(ItemKind.TEXT, text="公检法不会电话办案", item_id="af"))  # the slide's red
    assert _close(_centre(shot), (160, 20, 20), tol=24)
    drv.clear()
    assert _close(_centre(shot), (0, 0, 0))
    # written under a temporary name and renamed: nothing else is left in the directory
    assert sorted(p.name for p in (run / "frames").iterdir()) == ["hdmi-1", "hdmi-1.jpg"]
    # the newest picture of each item is kept for the campaign summary (one file per item)
    drv.show(item(ItemKind.IMAGE, media.blue, item_id="blue"))
    kept = {hashlib.sha256(i.encode()).hexdigest()[:16] + ".jpg": colour for i, colour in
            (("blue", (0, 0, 255)), ("red", (255, 0, 0)), ("af", (160, 20, 20)))}
    assert sorted(p.name for p in (run / "frames" / "hdmi-1").iterdir()) == sorted(kept)
    for name, colour in kept.items():
        assert _close(_centre(run / "frames" / "hdmi-1" / name), colour, tol=24)
    pics = screen_pictures(run, "hdmi-1", ZoneInfo("Asia/Shanghai"))
    assert len(pics) == 3  # the current one is the blue item's: shown once
    assert all(p["uri"].startswith("data:image/jpeg;base64,") for p in pics)


def test_a_playing_clip_is_refreshed_at_the_health_polls(make_driver: MakeDriver,
                                                         media: Media, tmp_path: Path) -> None:
    drv = make_driver(screenshot_every_s=1.0)
    shot = tmp_path / "run" / "frames" / "hdmi-1.jpg"
    drv.show(item(ItemKind.CLIP, media.clip_2s))
    first = shot.read_bytes()
    assert drv.health().ok
    assert shot.read_bytes() == first  # not yet: at most every screenshot_every_s
    time.sleep(1.1)
    assert drv.health().ok
    assert shot.read_bytes() != first  # testsrc moves: a new picture


def test_screenshots_can_be_turned_off(make_driver: MakeDriver, media: Media,
                                       tmp_path: Path) -> None:
    drv = make_driver(screenshot_every_s=0)
    drv.show(item(ItemKind.IMAGE, media.blue))
    assert frame_of(tmp_path / "run", "hdmi-1") is None


def test_screenshot_option_is_checked() -> None:
    for bad in (-1, 0.5, True, "10"):
        _opts, problems = parse_options({"screenshot_every_s": bad})
        assert problems and problems[0].startswith("screenshot_every_s: "), (bad, problems)
    opts, problems = parse_options({"screenshot_every_s": 30})
    assert not problems and opts.screenshot_every_s == 30.0
    argv = build_argv(opts, "mpv", screen_id="s", width=320, height=240)
    assert "--screenshot-jpeg-quality=70" in argv
