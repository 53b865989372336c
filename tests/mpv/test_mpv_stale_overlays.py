"""Pixel files of the code's overlay (code-<pid>.bgra, and its .tmp) that a crashed daemon
left in the mpv driver's private directories are removed when a driver opens: only files of
that exact name, regular and ours, whose process is gone, in our own 0700 directories; a
running process's file, any other name, and a symlink are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from signage_drivers.mpv.driver import MpvDriver

from signage.driver import DriverContext, ScreenSpec
from signage.runtime.clock import RealClock


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait(timeout=120)
    return p.pid


def test_open_removes_only_the_stale_overlay_files_of_dead_daemons(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(MpvDriver, "SHM", shm)
    spec = ScreenSpec("hall", 320, 180, {"vo": "null", "ao": "null", "fullscreen": False,
                                         "start_timeout_s": 60.0}, tmp_path)
    drv = MpvDriver(spec, DriverContext(RealClock(), tmp_path / "run"))
    ours = shm / f"signage-{os.getuid()}" / "hall"
    for d in (ours, drv.runtime_dir):
        d.mkdir(mode=0o700, parents=True)
        d.parent.chmod(0o700)
    dead, dead2 = _dead_pid(), _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    outside = tmp_path / "outside.bgra"
    outside.write_bytes(b"x")
    try:
        for d in (ours, drv.runtime_dir):
            for name in (f"code-{dead}.bgra", f"code-{dead}.tmp", f"code-{live.pid}.bgra",
                         "notes.txt", f"code-{dead}.bgra.bak", f"xcode-{dead}.bgra"):
                (d / name).write_bytes(b"\0" * 64)
            (d / f"code-{dead2}.bgra").symlink_to(outside)
        drv.open()
        try:
            for d in (ours, drv.runtime_dir):
                left = {p.name for p in d.iterdir()}
                assert f"code-{dead}.bgra" not in left and f"code-{dead}.tmp" not in left
                assert {f"code-{live.pid}.bgra", "notes.txt", f"code-{dead}.bgra.bak",
                        f"xcode-{dead}.bgra", f"code-{dead2}.bgra"} <= left, left
        finally:
            drv.close()
    finally:
        live.kill()
        live.wait(timeout=120)
    assert outside.read_bytes() == b"x"


def test_a_pid_beyond_any_process_number_is_left_and_the_driver_opens(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``code-9999999999.bgra`` matches the name's form, but no process can have that number
    (os.kill raises OverflowError, not an OSError): the file is left as it is, and the
    screen opens (a stray name must not keep a screen dark)."""
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(MpvDriver, "SHM", shm)
    spec = ScreenSpec("hall", 320, 180, {"vo": "null", "ao": "null", "fullscreen": False,
                                         "start_timeout_s": 60.0}, tmp_path)
    drv = MpvDriver(spec, DriverContext(RealClock(), tmp_path / "run"))
    ours = shm / f"signage-{os.getuid()}" / "hall"
    names = ("code-9999999999.bgra", "code-4294967296.tmp", "code-2147483648.bgra")
    for d in (ours, drv.runtime_dir):
        d.mkdir(mode=0o700, parents=True)
        d.parent.chmod(0o700)
        for name in names:
            (d / name).write_bytes(b"\0" * 64)
    drv.open()
    try:
        assert drv.health().ok
        for d in (ours, drv.runtime_dir):
            assert set(names) <= {p.name for p in d.iterdir()}
    finally:
        drv.close()
