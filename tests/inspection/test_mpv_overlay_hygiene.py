"""The code's overlay on real mpv (Xvfb, read back with x11grab): it never lingers over a black
frame (closing hours, end of plan), its pixels are private (0700 directory, 0600 file, gone at
close), and a name in the shared /dev/shm taken by someone else does not cost the screen its
code: the pixels go to the driver's own runtime directory instead."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from signage_drivers.mpv.driver import MpvDriver

from signage.driver import DriverContext, ItemKind, ScreenSpec, Showable
from signage.runtime.clock import RealClock
from tests.inspection.test_mpv_image_code import H, W, _code, _settled
from tests.xscreen import XScreen


def _driver(tmp_path: Path, display: str) -> MpvDriver:
    spec = ScreenSpec("hall", W, H, {"vo": "x11", "fullscreen": False,
                                     "start_timeout_s": 20.0, "show_timeout_s": 10.0,
                                     "reply_timeout_s": 2.0}, tmp_path)
    return MpvDriver(spec, DriverContext(RealClock(), tmp_path / "run"))


def test_black_frame_removes_the_code_and_pixels_stay_private(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(MpvDriver, "SHM", shm)
    with XScreen(W, H) as screen:
        monkeypatch.setenv("DISPLAY", screen.display)
        drv = _driver(tmp_path, screen.display)
        drv.open()
        try:
            code = _code(1, "bottom-right")
            item = Showable("af-1", ItemKind.TEXT, 8.0, True, "凡是刷单返利的都是诈骗",
                            code=code)
            drv.prepare(item)
            drv.show(item)
            _settled(screen, tmp_path / "coded.png", [code.text])
            d = shm / f"signage-{os.getuid()}"
            files = list(d.rglob("*.bgra"))
            assert len(files) == 1, files
            for p in (d, files[0].parent):
                assert stat.S_IMODE(os.lstat(p).st_mode) == 0o700, p
            assert stat.S_IMODE(os.lstat(files[0]).st_mode) == 0o600
            # closing hours: a black frame, without the code that was over the slide
            drv.clear()
            assert drv.overlay_code is None
            _settled(screen, tmp_path / "black.png", [])
        finally:
            drv.close()
        assert not list(d.rglob("*.bgra"))  # cleaned up at close


def test_a_taken_shm_name_falls_back_to_the_private_runtime_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o777)
    (shm / f"signage-{os.getuid()}").symlink_to(theirs)  # as another local user could
    monkeypatch.setattr(MpvDriver, "SHM", shm)
    with XScreen(W, H) as screen:
        monkeypatch.setenv("DISPLAY", screen.display)
        drv = _driver(tmp_path, screen.display)
        drv.open()
        try:
            code = _code(2, "bottom-left")
            item = Showable("af-2", ItemKind.TEXT, 8.0, True, "凡是公检法要求转账汇款的都是诈骗",
                            code=code)
            drv.prepare(item)
            drv.show(item)
            assert drv.overlay_code == code.text
            _settled(screen, tmp_path / "coded.png", [code.text])
            assert not list(theirs.rglob("*"))  # nothing written where they point
            assert list(drv.runtime_dir.glob("*.bgra"))
        finally:
            drv.close()
