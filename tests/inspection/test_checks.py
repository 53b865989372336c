"""Inspection pieces outside the runner: validate's code table, the log's head at a seq
across files, images fitted above the code, hostile photos refused by signage inspect."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from signage.runtime.clock import VirtualClock

TZ = ZoneInfo("Asia/Shanghai")


def test_validate_says_which_screens_show_the_code(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import copy_site

    cfg = copy_site(tmp_path)
    cfg.write_text(cfg.read_text("utf-8") + '\n[inspection]\nenabled = true\n'
                   'hub_url = "https://hub.example.cn"\n', "utf-8")
    r = subprocess.run([sys.executable, "-m", "signage.cli", "validate", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=120,
                       env={"COLUMNS": "250", "PATH": "/usr/bin:/bin", "SIGNAGE_LANG": "en"})
    assert r.returncode == 0, r.stdout + r.stderr
    led = next(x for x in r.stdout.splitlines() if "entrance-led" in x and "no code" in x)
    # the worst code of this site: version 9 at M (53 modules; zxing-cpp packs the payload
    # in mixed mode segments) + a 2-module lit margin on each side
    assert "needs at least 57 rows" in led and "16 here" in led
    hdmi = sum(1 for x in cfg.read_text("utf-8").splitlines() if x.startswith("height = ")
               and int(x.split("=")[1].split("#")[0]) > 64)
    assert sum("yes: code" in x for x in r.stdout.splitlines()) == hdmi >= 2


def test_log_mac_at_reads_the_right_file_across_days_and_gzip(tmp_path: Path) -> None:
    import gzip
    import shutil

    from signage.inspection.check import log_mac_at
    from signage.playlog.writer import LogWriter, log_files

    clock = VirtualClock(datetime(2026, 12, 1, 23, 59, 50, tzinfo=TZ).timestamp())
    w = LogWriter(tmp_path / "log", b"k" * 32, TZ, clock, run_id="r", boot_id="b")
    w.open()
    macs: dict[int, str] = {}
    for _ in range(40):
        clock.advance_to(clock.monotonic() + 0.5)
        w.rotate_if_due()
        w.append("heartbeat", screens={})
        macs[w.head.seq] = w.head.mac
    w.close()
    files = log_files(tmp_path / "log")
    assert len(files) == 2
    with open(files[0], "rb") as src, gzip.open(str(files[0]) + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    files[0].unlink()
    for seq, mac in macs.items():
        got = log_mac_at(tmp_path / "log", seq)
        assert got is not None and got[1] == mac, seq
    assert log_mac_at(tmp_path / "log", max(macs) + 5) is None


def test_an_image_is_fitted_above_the_code_never_under_it(tmp_path: Path) -> None:
    from PIL import Image

    from signage.driver import InspectionCode
    from signage.inspection.picture import code_box, image_with_code, qr_modules

    url = "https://hub.example.cn/v/" + "A" * 168
    code = InspectionCode(url, qr_modules(url), "bottom-left", 0.4)
    for w, h, iw, ih in ((1920, 1080, 1000, 1000), (1280, 720, 1600, 900), (1080, 1920, 300, 900)):
        src = tmp_path / f"white{iw}x{ih}.png"
        Image.new("RGB", (iw, ih), (255, 255, 255)).save(src)
        frame = image_with_code(src, w, h, code)
        box = code_box(w, h, len(code.modules), code.position, code.size)
        assert box is not None
        # white image pixels exist, and none lies in the code's rows
        above = frame.crop((0, 0, w, box.y)).convert("L").getbbox()
        assert above is not None
        band = frame.crop((0, box.y, w, h)).convert("L")
        outside_code = Image.new("L", band.size, 0)
        outside_code.paste(band.crop((box.x + box.side, 0, w, band.height)),
                           (box.x + box.side, 0))
        outside_code.paste(band.crop((0, 0, box.x, band.height)), (0, 0))
        assert outside_code.getbbox() is None, (w, h)


def test_inspect_refuses_bad_photos_with_a_message(tmp_path: Path) -> None:
    import subprocess
    import sys

    from PIL import Image

    trust = tmp_path / "keys.toml"
    trust.write_text("version = 1\n", "utf-8")
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all" * 10)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)  # 400 MP, a few hundred KB
    huge = tmp_path / "mid.png"
    Image.new("1", (9000, 9000)).save(huge)  # 81 MP: over our 60 MP limit
    plain = tmp_path / "plain.png"
    Image.new("RGB", (640, 480), (90, 90, 90)).save(plain)
    for photo, want in ((garbage, "not a readable image"), (bomb, "megapixels"),
                        (huge, "megapixels"), (plain, "no QR code found"),
                        (tmp_path / "missing.jpg", "cannot read the photo")):
        r = subprocess.run([sys.executable, "-m", "signage.cli", "inspect", str(photo),
                            "--trust", str(trust)], capture_output=True, text=True,
                           timeout=120, env={"SIGNAGE_LANG": "en", "PATH": "/usr/bin:/bin"})
        assert r.returncode == 3, (photo, r.stdout, r.stderr)
        assert want in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_the_simulator_draws_clips_and_alerts_above_the_code_area(tmp_path: Path) -> None:
    """The simulator's frames are the composite mpv shows: a clip's card fitted above the code
    area and an urgent alert laid out above it, the code in its corner, readable."""
    import io

    import zxingcpp
    from PIL import Image, ImageChops
    from signage_drivers.simulator import SimulatorDriver

    from signage import render
    from signage.alerts import ALERT_CATEGORY
    from signage.driver import DriverContext, InspectionCode, ItemKind, ScreenSpec, Showable
    from signage.inspection.picture import code_area, code_box, qr_modules

    url = "https://hub.example.cn/v/" + "B" * 168
    code = InspectionCode(url, qr_modules(url), "bottom-right", 0.4)
    (tmp_path / "c.mp4").write_bytes(b"x")
    w, h = 1280, 720
    spec = ScreenSpec("hall", w, h, {"kind": "hdmi"}, tmp_path)
    sim = SimulatorDriver(spec, DriverContext(VirtualClock(0.0), tmp_path / "run"))
    box = code_box(w, h, len(code.modules), code.position, code.size)
    assert box is not None
    band_top = h - code_area(w, h, code.size)
    for item in (Showable("clip", ItemKind.CLIP, 5.0, True, path=tmp_path / "c.mp4", code=code),
                 Showable("alert", ItemKind.TEXT, 5.0, True, "台风红色预警\n请留在室内",
                          category=ALERT_CATEGORY, code=code)):
        frame = Image.open(io.BytesIO(sim.preview(item))).convert("RGB")
        assert [b.text for b in zxingcpp.read_barcodes(frame)] == [url]
        if item.kind is ItemKind.CLIP:
            band = frame.convert("L")
            band.paste(0, (box.x, box.y, box.x + box.side, box.y + box.side))
            assert band.crop((0, band_top, w, h)).getextrema()[1] == 0  # black beside it
            assert frame.crop((0, 0, w, band_top)).convert("L").getextrema()[1] > 100
        else:
            bare = render.render_slide(item.text, w, h, category=ALERT_CATEGORY,
                                       clear_bottom=code_area(w, h, code.size))
            diff = ImageChops.difference(frame, bare).getbbox()
            assert diff is not None and diff[1] >= box.y and diff[0] >= box.x
