"""An anti-fraud image on real mpv with its code: the image is fitted above the code, the
screenshot (screenshot-to-file) decodes to the exact code, and a clip plays without one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from signage_drivers.mpv.driver import MpvDriver

from signage.driver import DriverContext, InspectionCode, ItemKind, ScreenSpec, Showable
from signage.inspection.check import read_codes
from signage.inspection.picture import code_box, qr_modules
from signage.inspection.statement import Statement, sign
from signage.keys import SigningKey
from signage.runtime.clock import RealClock

KEY = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))


def test_image_and_clip_with_a_code_on_real_mpv(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    poster = media / "poster.png"
    Image.new("RGB", (800, 800), (255, 255, 255)).save(poster)
    clip = media / "clip.mp4"
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=320x240:rate=25", "-t", "2", "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", str(clip)], check=True, timeout=60)
    st = Statement("demo-mall", "hall", 1796090400, True, 5, 40_000, 77, bytes(16), KEY.key_id)
    url = sign(st, KEY).url("https://hub.example.cn")
    code = InspectionCode(url, qr_modules(url), "bottom-right", 0.4)
    spec = ScreenSpec("hall", 1280, 720, {"vo": "null", "fullscreen": False,
                                          "start_timeout_s": 20.0, "show_timeout_s": 10.0,
                                          "reply_timeout_s": 2.0}, media)
    drv = MpvDriver(spec, DriverContext(RealClock(), tmp_path / "run"))
    drv.open()
    try:
        item = Showable("poster", ItemKind.IMAGE, 8.0, True, path=poster, code=code)
        drv.prepare(item)
        drv.show(item)
        assert drv.player is not None
        shot = tmp_path / "shot.png"
        drv.player.command(["screenshot-to-file", str(shot), "video"])
        assert url in read_codes(shot)
        box = code_box(1280, 720, len(code.modules), "bottom-right", 0.4)
        assert box is not None
        with Image.open(shot) as img:
            frame = img.convert("L")
        # the white poster lies wholly above the code's top edge
        assert frame.crop((0, 0, 1280, box.y)).getbbox() is not None
        left = frame.crop((0, box.y, box.x, 720))
        assert left.getextrema()[1] < 40  # nothing but black beside the code
        # an anti-fraud clip carries no code (it would cover the picture)
        drv.show(Showable("clip", ItemKind.CLIP, 2.0, True, path=clip, code=code))
        drv.player.command(["screenshot-to-file", str(tmp_path / "clip.png"), "video"])
        assert url not in read_codes(tmp_path / "clip.png")
    finally:
        drv.close()
