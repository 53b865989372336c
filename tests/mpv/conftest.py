"""Fixtures: media generated with ffmpeg's lavfi sources, a real clock, drivers on real mpv."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from signage_drivers.mpv.driver import MpvDriver

from signage.driver import DriverContext, ItemKind, ScreenSpec, Showable
from signage.runtime.clock import RealClock

from .frameless import make_frameless


@dataclass
class EventLog:
    """Collects ctx.event() calls."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, kind: str, data: Mapping[str, Any]) -> None:
        self.events.append((kind, dict(data)))


def _ffmpeg(*args: str) -> None:
    exe = shutil.which("ffmpeg")
    assert exe is not None, "ffmpeg is needed to generate the test media"
    subprocess.run([exe, "-v", "error", "-y", *args], check=True, timeout=60)


@dataclass(frozen=True)
class Media:
    root: Path
    red: Path  # 320x240 PNG, pure red
    blue: Path  # 320x240 PNG, pure blue
    clip_1s: Path  # H.264, 1.0 s
    clip_2s: Path  # MPEG-2 program stream, 2.0 s
    corrupt: Path  # random bytes named .mp4
    outside: Path  # a valid PNG outside the media root
    frameless_random: Path  # valid MP4 container, random payload: no decodable frame
    frameless_cut: Path  # faststart MP4 cut right after the mdat box header


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    base = tmp_path_factory.mktemp("mpvmedia")
    root = base / "media"
    root.mkdir()
    red, blue = root / "red.png", root / "blue.png"
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:size=320x240", "-frames:v", "1", str(red))
    _ffmpeg("-f", "lavfi", "-i", "color=c=blue:size=320x240", "-frames:v", "1", str(blue))
    clip_1s, clip_2s = root / "clip1s.mp4", root / "clip2s.mpg"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "1", "-c:v", "libx264",
            "-pix_fmt", "yuv420p", str(clip_1s))
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "2", "-c:v",
            "mpeg2video", str(clip_2s))
    corrupt = root / "corrupt.mp4"
    corrupt.write_bytes(bytes((i * 7919 + 13) % 251 for i in range(40_000)))
    outside = base / "outside.png"
    shutil.copy(red, outside)
    faststart = base / "faststart.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "3", "-c:v", "libx264",
            "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(faststart))
    frameless_random, frameless_cut = root / "random-payload.mp4", root / "cut-after-mdat.mp4"
    make_frameless(faststart, frameless_random, frameless_cut)
    return Media(root, red, blue, clip_1s, clip_2s, corrupt, outside, frameless_random,
                 frameless_cut)


def item(kind: ItemKind, path: Path | None = None, text: str = "",
         item_id: str = "it") -> Showable:
    return Showable(item_id=item_id, kind=kind, duration_s=5.0, anti_fraud=True, text=text,
                    path=path)


MakeDriver = Callable[..., MpvDriver]


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def make_driver(tmp_path: Path, media: Media, events: EventLog) -> Iterator[MakeDriver]:
    """Build (and afterwards close) drivers on a headless mpv: vo=null unless overridden."""
    made: list[MpvDriver] = []

    def make(*, width: int = 320, height: int = 240, open_: bool = True,
             **options: Any) -> MpvDriver:
        opts: dict[str, Any] = {"vo": "null", "fullscreen": False, "reply_timeout_s": 1.0,
                                "start_timeout_s": 10.0, "show_timeout_s": 5.0}
        opts.update(options)
        spec = ScreenSpec(screen_id="hdmi-1", width=width, height=height, options=opts,
                          media_root=media.root)
        ctx = DriverContext(clock=RealClock(), run_dir=tmp_path / "run", event=events)
        drv = MpvDriver(spec, ctx)
        made.append(drv)
        if open_:
            drv.open()
        return drv

    yield make
    for drv in made:
        drv.close()
