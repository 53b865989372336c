"""show() on a real headless mpv: confirmation, rejections, deaths, end of clips."""

from __future__ import annotations

import os
import signal
import stat
import time
from pathlib import Path

import pytest
from signage_drivers.mpv.driver import FRAME_SHOWN, MpvDriver

from signage.driver import ContentRejected, ItemKind, ScreenUnavailable

from .conftest import EventLog, MakeDriver, Media, item


def _start_files(drv: MpvDriver) -> list[int]:
    assert drv.player is not None
    return [ev.data["playlist_entry_id"] for ev in drv.player.recent_events()
            if ev.name == "start-file"]


def test_start_is_the_playback_restart_after_our_start_file(make_driver: MakeDriver,
                                                            media: Media) -> None:
    drv = make_driver()
    assert drv.ipc_mode == "fd"  # mpv 0.35 has --input-ipc-client
    drv.show(item(ItemKind.CLIP, media.clip_2s))
    # A seek makes mpv emit another playback-restart of the OLD file. Let it arrive and sit
    # unread in the event queue: it must never be taken as the next item's start.
    assert drv.player is not None
    drv.player.command(["seek", 0.5, "absolute"])
    deadline = time.monotonic() + 3.0
    while sum(ev.name == "playback-restart" for ev in drv.player.recent_events()) < 2:
        assert time.monotonic() < deadline, "mpv sent no playback-restart for the seek"
        time.sleep(0.01)
    stale = [ev for ev in drv.player.recent_events() if ev.name == "playback-restart"][-1]
    before = drv.ctx.clock.monotonic()
    t = drv.show(item(ItemKind.IMAGE, media.red))
    after = drv.ctx.clock.monotonic()
    assert before <= t <= after
    entry = drv.current_entry_id
    assert entry is not None
    evs = drv.player.recent_events()
    i_start = next(i for i, ev in enumerate(evs)
                   if ev.name == "start-file" and ev.data["playlist_entry_id"] == entry)
    restart = next(ev for ev in evs[i_start:] if ev.name == "playback-restart")
    drawn = next(ev for ev in evs[i_start:] if ev.name == "log-message"
                 and ev.data.get("text", "").strip() == FRAME_SHOWN)
    assert t == min(restart.at, drawn.at)  # both come after the frame was drawn
    assert restart.at >= before
    assert stale.at < before <= t
    assert stale in evs[:i_start]


def test_missing_and_corrupt_files_are_rejected_and_the_player_keeps_working(
        make_driver: MakeDriver, media: Media) -> None:
    drv = make_driver()
    pid = drv.pid
    with pytest.raises(ContentRejected, match="missing"):
        drv.show(item(ItemKind.CLIP, media.root / "no-such-clip.mp4"))
    with pytest.raises(ContentRejected, match=r"corrupt\.mp4"):
        drv.show(item(ItemKind.CLIP, media.corrupt))
    t = drv.show(item(ItemKind.IMAGE, media.blue))
    assert t > 0 and drv.pid == pid
    assert drv.health().ok


def test_paths_outside_the_media_root_never_reach_mpv(make_driver: MakeDriver,
                                                      media: Media) -> None:
    drv = make_driver()
    drv.show(item(ItemKind.IMAGE, media.red))
    seen = _start_files(drv)
    link = media.root / "sneaky.png"
    if not link.is_symlink():
        link.symlink_to(media.outside)
    for path in (media.outside, media.root / ".." / media.outside.name, link,
                 Path("/etc/passwd")):
        with pytest.raises(ContentRejected, match="outside the media root"):
            drv.show(item(ItemKind.IMAGE, path))
    time.sleep(0.2)
    assert _start_files(drv) == seen  # mpv was never asked to open anything
    assert drv.health().ok


def test_killed_mpv_makes_the_screen_unavailable_and_open_recovers(
        make_driver: MakeDriver, media: Media) -> None:
    drv = make_driver()
    drv.show(item(ItemKind.IMAGE, media.red))
    old = drv.pid
    assert old is not None
    os.kill(old, signal.SIGKILL)
    with pytest.raises(ScreenUnavailable):
        drv.show(item(ItemKind.IMAGE, media.blue))
    assert not drv.health().ok
    with pytest.raises(ProcessLookupError):  # reaped, not a zombie
        os.kill(old, 0)
    drv.open()
    assert drv.pid not in (None, old)
    drv.show(item(ItemKind.IMAGE, media.blue))
    assert drv.health().ok


def _wait_until_stopped(pid: int) -> None:
    deadline = time.monotonic() + 3.0
    while "T (stopped)" not in Path(f"/proc/{pid}/status").read_text():
        assert time.monotonic() < deadline, "SIGSTOP did not take effect"
        time.sleep(0.005)


@pytest.mark.parametrize("settled", [True, False], ids=["stopped-before", "stopped-while-loading"])
def test_hung_mpv_times_out_as_unavailable(make_driver: MakeDriver, media: Media,
                                           settled: bool) -> None:
    drv = make_driver(reply_timeout_s=0.5, show_timeout_s=300.0)
    drv.show(item(ItemKind.IMAGE, media.red))
    old = drv.pid
    assert old is not None
    os.kill(old, signal.SIGSTOP)  # alive but answering nothing
    if settled:
        _wait_until_stopped(old)
    # else: the stop usually lands after mpv accepted the loadfile; then the silent player
    # is pinged and found hung long before show_timeout_s (300 s here)
    t0 = time.monotonic()
    with pytest.raises(ScreenUnavailable, match="no reply"):
        drv.show(item(ItemKind.IMAGE, media.blue))
    # found by the pings (every reply_timeout_s), not by show_timeout_s (300 s): a hang bound
    # of 120 s no busy machine reaches, and still far from the show timeout
    assert time.monotonic() - t0 < 120.0
    with pytest.raises(ProcessLookupError):  # the hung player was killed and reaped
        os.kill(old, 0)
    drv.open()
    drv.show(item(ItemKind.IMAGE, media.blue))


def test_socket_mode_uses_a_private_directory(make_driver: MakeDriver, media: Media) -> None:
    drv = make_driver(ipc="socket")
    assert drv.ipc_mode == "socket"
    assert drv.player is not None
    sock = drv.player.socket_path
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert sock.parent == drv.runtime_dir
    assert stat.S_IMODE(drv.runtime_dir.stat().st_mode) == 0o700
    drv.show(item(ItemKind.IMAGE, media.red))
    drv.show(item(ItemKind.TEXT, text="陌生来电要转账，一定是诈骗"))
    slides = list((drv.runtime_dir / "slides").iterdir())
    assert len(slides) == 1 and stat.S_IMODE(slides[0].parent.stat().st_mode) == 0o700
    drv.close()
    assert not sock.exists()


def test_fd_mode_leaves_no_socket_and_mpv_exits_with_its_connection(
        make_driver: MakeDriver, media: Media) -> None:
    drv = make_driver()
    assert drv.ipc_mode == "fd"
    assert not (drv.runtime_dir / "ipc.sock").exists()
    assert stat.S_IMODE(drv.runtime_dir.stat().st_mode) == 0o700
    pid = drv.pid
    assert pid is not None
    drv.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_poll_end_reports_the_end_of_each_clip(make_driver: MakeDriver, media: Media) -> None:
    drv = make_driver()
    t_img = drv.show(item(ItemKind.IMAGE, media.red))
    assert t_img > 0 and drv.poll_end() is None
    # Two clips in a row: with mpv's default keep-open-pause the second would stay paused
    # on its first frame and never end.
    for clip, length in ((media.clip_1s, 1.0), (media.clip_2s, 2.0)):
        start = drv.show(item(ItemKind.CLIP, clip))
        assert drv.poll_end() is None
        deadline = time.monotonic() + length + 3.0
        end = None
        while end is None and time.monotonic() < deadline:
            time.sleep(0.02)
            end = drv.poll_end()
        assert end is not None, f"no end reported for {clip.name}"
        assert length - 0.3 <= end - start <= length + 0.6
        assert drv.poll_end() == end  # stable once reported
    drv.show(item(ItemKind.IMAGE, media.blue))
    time.sleep(0.3)
    assert drv.poll_end() is None


def test_rss_limit_restarts_mpv_at_an_item_boundary(make_driver: MakeDriver, media: Media,
                                                    events: EventLog) -> None:
    drv = make_driver(max_rss_mb=17)  # any real mpv is bigger than that
    drv.show(item(ItemKind.IMAGE, media.red))
    first = drv.pid
    drv.show(item(ItemKind.IMAGE, media.blue))
    assert drv.pid != first
    restarts = [d for k, d in events.events if k == "player_restart"]
    assert restarts and all(d["reason"] == "rss" and d["rss_mb"] > 17 for d in restarts)
    assert restarts[-1]["pid"] == first  # the player that showed the previous item
    assert drv.health().ok


def test_no_restart_under_the_limit(make_driver: MakeDriver, media: Media,
                                    events: EventLog) -> None:
    drv = make_driver(max_rss_mb=100_000)
    pid = drv.pid
    for path in (media.red, media.blue, media.red):
        drv.show(item(ItemKind.IMAGE, path))
    assert drv.pid == pid and not events.events


def test_switch_latency_is_measured(make_driver: MakeDriver, media: Media) -> None:
    drv = make_driver()
    for path in (media.red, media.blue) * 3:
        before = time.monotonic()
        drv.show(item(ItemKind.IMAGE, path))
        assert drv.switch_latency_s <= time.monotonic() - before + 0.5
    assert 0.0 < drv.switch_latency_s < 1.0


def test_show_before_open_is_unavailable(make_driver: MakeDriver, media: Media) -> None:
    drv = make_driver(open_=False)
    with pytest.raises(ScreenUnavailable):
        drv.show(item(ItemKind.IMAGE, media.red))
    assert not drv.health().ok
