"""Faults that are the screen's, not the content's, and content mpv would "play" on black."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from signage_drivers.mpv.options import parse_options

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
    assert drv.player is not None  # stopped: its sound does not play on
    assert drv.player.command(["get_property", "idle-active"])[0] is True
    drv.show(item(ItemKind.CLIP, media.clip_1s))  # still working
    assert drv.health().ok


def test_a_site_include_cannot_break_start_and_end(make_driver: MakeDriver, media: Media,
                                                   tmp_path: Path) -> None:
    # --include is allowed for site tuning; settings in it that would make clips start
    # paused or never end are overridden by the driver's arguments, which come last.
    site = tmp_path / "site-mpv.conf"
    site.write_text("pause=yes\nkeep-open-pause=yes\nloop-file=inf\nosd-level=1\n")
    drv = make_driver(extra_args=[f"--include={site}"])
    for clip, length in ((media.clip_1s, 1.0), (media.clip_1s, 1.0)):
        start = drv.show(item(ItemKind.CLIP, clip))
        deadline = time.monotonic() + length + 3.0
        end = None
        while end is None and time.monotonic() < deadline:
            time.sleep(0.02)
            end = drv.poll_end()
        assert end is not None and end - start >= length - 0.3
    assert drv.player is not None
    osd, _ = drv.player.command(["get_property", "osd-level"])
    assert osd == 1  # ordinary tuning from the site file does apply


def test_managed_loop_and_pause_are_refused_in_extra_args() -> None:
    _, problems = parse_options({"extra_args": ["--loop-file=inf", "--pause"]})
    assert len(problems) == 2 and all("managed by the driver" in p for p in problems)


def test_a_playlist_file_is_rejected_and_its_entries_never_play(
        make_driver: MakeDriver, media: Media) -> None:
    # An .m3u inside the media root could list files outside it. By default mpv expands it
    # into new playlist entries and plays them (a stop sent on the "redirect" event came too
    # late about 1 run in 10 here); --access-references=no makes the load fail instead.
    # Both a .m3u and an M3U disguised as .mp4 (mpv also detects playlists by content).
    # An mpv EDL file (also recognised by content) references other files the same way.
    drv = make_driver()
    for name, text in (("sneaky.m3u", f"#EXTM3U\n{media.outside}\n"),
                       ("sneaky-m3u.mp4", f"#EXTM3U\n{media.outside}\n"),
                       ("sneaky-edl.mp4", f"# mpv EDL v0\n{media.outside},0,1\n")):
        playlist = media.root / name
        playlist.write_text(text)
        with pytest.raises(ContentRejected, match=name):
            drv.show(item(ItemKind.CLIP, playlist))
        assert drv.player is not None
        evs = drv.player.recent_events()
        assert not [ev for ev in evs if ev.name == "end-file"
                    and ev.data.get("reason") == "redirect"]
        assert drv.player.command(["get_property", "idle-active"])[0] is True
    drv.show(item(ItemKind.IMAGE, media.red))  # still working
