"""Faults that are the screen's, not the content's, and content mpv would "play" on black."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from signage.driver import ContentRejected, ItemKind, ScreenUnavailable

from .conftest import MakeDriver, Media, item


def test_video_output_that_cannot_open_is_screen_unavailable(make_driver: MakeDriver) -> None:
    # mpv stays alive in idle mode without a window when its VO fails; without this check
    # every later file would end with "no audio or video data played" and be blamed.
    drv = make_driver(open_=False, vo="drm", extra_args=["--drm-device=/nonexistent/card9"])
    with pytest.raises(ScreenUnavailable, match="video output vo='drm' could not be opened"):
        drv.open()
    assert drv.pid is None


def test_option_mpv_refuses_is_screen_unavailable_with_the_command_line(
        make_driver: MakeDriver) -> None:
    drv = make_driver(open_=False, extra_args=["--no-such-option=1"])
    with pytest.raises(ScreenUnavailable, match=r"exit status 1.*--no-such-option=1"):
        drv.open()


def test_missing_mpv_binary_is_screen_unavailable(make_driver: MakeDriver) -> None:
    drv = make_driver(open_=False, mpv_path="/nonexistent/mpv")
    with pytest.raises(ScreenUnavailable, match="not found"):
        drv.open()


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory, media: Media) -> Path:
    exe = shutil.which("ffmpeg")
    assert exe is not None
    path = media.root / "tone.m4a"
    if not path.exists():
        subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", "sine=d=2", str(path)],
                       check=True, timeout=60)
    return path


@pytest.mark.parametrize("ao", [None, "null"])
def test_audio_only_file_is_rejected_not_confirmed_on_a_black_screen(
        make_driver: MakeDriver, media: Media, tone: Path, ao: str | None) -> None:
    drv = make_driver(ao=ao)
    with pytest.raises(ContentRejected):
        drv.show(item(ItemKind.CLIP, tone))
    drv.show(item(ItemKind.CLIP, media.clip_1s))  # still working
    assert drv.health().ok
