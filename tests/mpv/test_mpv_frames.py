"""A showing is confirmed only once mpv has drawn a frame of it (issue 10, item 1a).

The two frameless clips are real MP4 files that ffprobe reads (a duration, a video stream):
mpv opens them and sends ``playback-restart`` with ``video=eof``, but never draws a frame.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from signage_drivers.mpv.driver import FRAME_SHOWN

from signage.driver import ContentRejected, ItemKind

from .conftest import MakeDriver, Media, item


def _ffprobe_duration(path: Path) -> float:
    exe = shutil.which("ffprobe")
    assert exe is not None
    out = subprocess.run([exe, "-v", "quiet", "-of", "json", "-show_entries",
                          "format=duration:stream=codec_type", str(path)],
                         capture_output=True, check=True, timeout=30).stdout
    doc = json.loads(out)
    assert [s["codec_type"] for s in doc["streams"]] == ["video"]
    return float(doc["format"]["duration"])


def test_frameless_clips_have_a_duration_for_ffprobe(media: Media) -> None:
    # the trap: a prober alone accepts them
    assert _ffprobe_duration(media.frameless_random) == pytest.approx(3.0, abs=0.1)
    assert _ffprobe_duration(media.frameless_cut) == pytest.approx(3.0, abs=0.1)


@pytest.mark.parametrize("which", ["frameless_random", "frameless_cut"])
def test_a_clip_with_no_decodable_frame_is_never_confirmed(make_driver: MakeDriver,
                                                          media: Media, which: str) -> None:
    drv = make_driver()
    drv.show(item(ItemKind.IMAGE, media.red))
    pid = drv.pid
    with pytest.raises(ContentRejected, match=r"no decodable frame|no first frame"):
        drv.show(item(ItemKind.CLIP, getattr(media, which)))
    assert drv.current_entry_id is None
    # the player is fine: the next item is confirmed by the same mpv
    drv.show(item(ItemKind.IMAGE, media.blue))
    assert drv.pid == pid
    assert drv.player is not None
    # mpv did send playback-restart for the frameless clip: that event alone proves nothing
    names = [ev.name for ev in drv.player.recent_events()]
    assert names.count("playback-restart") >= 3


def test_every_confirmation_matches_mpvs_own_log(make_driver: MakeDriver, media: Media,
                                                 tmp_path: Path) -> None:
    """mpv's --log-file, written by mpv itself, has one "first video frame after restart
    shown" per confirmed show() and none for the frameless clips; `--really-quiet` (which
    silences mpv's own terminal) does not blind the driver."""
    logfile = tmp_path / "mpv.log"
    drv = make_driver(extra_args=[f"--log-file={logfile}", "--really-quiet"])
    confirmed, rejected = 0, 0
    seq = [media.red, media.frameless_random, media.clip_1s, media.frameless_cut, media.blue,
           media.clip_2s, media.frameless_random, media.red]
    starts: list[float] = []
    for path in seq:
        kind = ItemKind.IMAGE if path.suffix == ".png" else ItemKind.CLIP
        try:
            starts.append(drv.show(item(kind, path)))
            confirmed += 1
        except ContentRejected:
            rejected += 1
    assert (confirmed, rejected) == (5, 3)
    assert starts == sorted(starts)
    drv.close()  # mpv flushes its log file on exit
    deadline = time.monotonic() + 10
    while not logfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = logfile.read_text(errors="replace").splitlines()
    drawn = [ln for ln in lines if FRAME_SHOWN in ln and "[cplayer]" in ln]
    assert len(drawn) == confirmed
    restarts_eof = [ln for ln in lines if "playback restart complete" in ln and "video=eof" in ln]
    assert len(restarts_eof) >= 3  # mpv "restarted" the frameless clips, without a frame
