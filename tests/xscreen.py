"""A real X screen for tests of what mpv draws over its video (the inspection code is an
overlay, drawn by the video output: mpv's screenshots and vo=image leave it out). Xvfb serves
the screen; mpv draws on it with vo=x11; ffmpeg's x11grab reads the screen back, as a camera
in front of the panel would see it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

from PIL import Image


class XScreen:
    """An Xvfb display of ``width`` × ``height`` (24-bit), on a display number Xvfb picks."""

    def __init__(self, width: int, height: int) -> None:
        exe = shutil.which("Xvfb")
        assert exe is not None, "Xvfb missing: apt install xvfb (scripts/setup)"
        self.width, self.height = width, height
        r, w = os.pipe()
        self.proc = subprocess.Popen(
            [exe, "-displayfd", str(w), "-screen", "0", f"{width}x{height}x24",
             "-nolisten", "tcp", "-nocursor"],
            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(w)
        got = b""
        deadline = time.monotonic() + 30
        while not got.endswith(b"\n") and time.monotonic() < deadline:
            chunk = os.read(r, 16)
            if not chunk:
                break
            got += chunk
        os.close(r)
        assert got.strip().isdigit(), f"Xvfb did not start ({got!r})"
        self.display = ":" + got.strip().decode()

    def env(self) -> dict[str, str]:
        return {**os.environ, "DISPLAY": self.display}

    def grab(self, path: Path) -> Image.Image:
        """What the screen shows now (RGB)."""
        ffmpeg = shutil.which("ffmpeg")
        assert ffmpeg is not None
        subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "x11grab", "-draw_mouse", "0",
                        "-video_size", f"{self.width}x{self.height}", "-i", self.display,
                        "-frames:v", "1", str(path)], check=True, timeout=60)
        with Image.open(path) as img:
            return img.convert("RGB")

    def record(self, directory: Path, fps: float) -> subprocess.Popen[bytes]:
        """Grab the screen ``fps`` times a second into ``directory``/NNNNN.png until the
        returned process is stopped (``stop``)."""
        ffmpeg = shutil.which("ffmpeg")
        assert ffmpeg is not None
        return subprocess.Popen(
            [ffmpeg, "-v", "error", "-y", "-f", "x11grab", "-draw_mouse", "0", "-framerate",
             str(fps), "-video_size", f"{self.width}x{self.height}", "-i", self.display,
             str(directory / "%05d.png")], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @staticmethod
    def stop(rec: subprocess.Popen[bytes]) -> None:
        try:
            assert rec.stdin is not None
            rec.stdin.write(b"q")
            rec.stdin.close()
            rec.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            rec.kill()
            rec.wait()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> XScreen:
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
