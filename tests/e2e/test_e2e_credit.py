"""End to end: no credit for time the screen did not prove (issue 10, items 1 and 3).

* LED: `signage run` (a real process) drives the fake BX-5E board on a real pty. Right after the
  board acknowledges one item it falls silent; it ignores the first attempt of the next switch
  and answers the resend. The item it went silent on is credited only up to the board's last
  answer, and is logged cut short with the reason.
* mpv: the anti-fraud clip is replaced on disk, while the daemon runs, by a valid MP4 whose
  payload is random (no decodable frame). The real mpv "restarts" it without drawing; the run
  credits nothing for it.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from signage_drivers.led.codec import Group, Packet, parse_request
from signage_drivers.led.fakeboard import FakeBoard

from tests.logtools import records
from tests.mpv.frameless import make_frameless

from .e2etools import Item, Record, audit_json, showings, signage_run, wait_for, write_site

LED = "door-led"


@dataclass
class Silence:
    """The board's fault script: silent from the ACK of one switch to the first attempt of
    the next one (that attempt is received and ignored; the resend is answered)."""

    board: FakeBoard
    armed: threading.Event = field(default_factory=threading.Event)
    state: str = "idle"
    t_silent: float = 0.0  # the board's last answer before the silence (its ACK sent)
    t_ignored: float = 0.0  # the switch's first attempt, received and not answered
    t_resend: float = 0.0  # the resend, answered


def _is_switch(pkt: Packet) -> bool:
    req = parse_request(pkt.data)
    return (req.group, req.cmd) == (Group.DYNAMIC, 0x00)


@dataclass
class LedRun:
    site: Path
    returncode: int
    stderr: str
    fault: Silence


@pytest.fixture(scope="module")
def led_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedRun]:
    site = tmp_path_factory.mktemp("e2e-credit-led")
    board = FakeBoard(width=128, height=16, baud=57600, link=site / "ttyBOARD")
    fault = Silence(board)
    handle = board.emulator.handle

    def scripted(event: Any) -> bytes | None:
        switch = isinstance(event, Packet) and _is_switch(event)
        if switch and fault.state == "silent":
            fault.t_ignored = time.monotonic()
            fault.state = "resend"
            reply = handle(event)  # silent: recorded, not answered
            board.faults.silent = False
            return reply
        reply: bytes | None = handle(event)
        if switch and fault.state == "resend":
            fault.t_resend = time.monotonic()
            fault.state = "done"
        elif switch and fault.armed.is_set() and fault.state == "idle":
            fault.t_silent = time.monotonic()
            fault.state = "silent"
            board.faults.silent = True  # from now on: nothing answered
        return reply

    board.emulator.handle = scripted
    board.start()
    # every item is shorter than ping_s (5 s): between switches only the ACKs prove the board
    af = [Item("af-a", "text", text="刷单返利是诈骗", duration_s=3.0),
          Item("af-b", "text", text="不转账不汇款", duration_s=3.0)]
    store = [Item("st-a", "text", text="新鲜水果特价", duration_s=3.0)]
    cfg = write_site(site, name="led-credit", driver="led", screen=LED, width=128, height=16,
                     options=f'{{ port = "{board.port}", baud = 57600 }}', af=af,
                     store=store, max_gap=12.0, margin=1.0)
    proc = signage_run(cfg, "18s")
    try:
        wait_for(site / "log", proc, "2 showings", lambda rs: len(showings(rs, LED)) >= 2,
                 timeout_s=15)
        fault.armed.set()
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        board.stop()
    yield LedRun(site, proc.returncode, err, fault)


def test_led_silence_then_resend_credits_nothing_past_the_last_answer(led_run: LedRun) -> None:
    assert led_run.returncode == 0, led_run.stderr
    f = led_run.fault
    assert f.state == "done", f"the fault script did not run through: {f.state}"
    assert f.t_ignored - f.t_silent > 2.0  # a real silence of one item
    assert f.t_resend - f.t_ignored > 0.5  # the driver waited for the ACK, then resent
    recs = records(led_run.site / "log", led_run.site / "site.key")
    shows = showings(recs, LED)
    # the item the board went silent on: confirmed by the ACK sent at t_silent
    (hit,) = [r for r in shows if abs(r["start_mono"] - f.t_silent) < 0.25]
    assert hit["end_mono"] - f.t_silent < 0.25, hit  # its last answer, not its planned end
    assert hit["outcome"] == "cut_short" and "2 attempts" in hit["reason"], hit
    # nothing on this screen claims the silence
    for r in shows:
        assert r["end_mono"] <= f.t_silent + 0.25 or r["start_mono"] >= f.t_resend, r
    # the resend is in the log, and the next item starts at the resend's ACK
    assert any(r["type"] == "driver_event" and r["kind"] == "led_resend" for r in recs)
    (nxt,) = [r for r in shows if f.t_resend <= r["start_mono"] < f.t_resend + 0.25]
    assert nxt["outcome"] in ("completed", "cut_short")
    _code, report = audit_json(led_run.site / "log", led_run.site / "site.key", led_run.site)
    assert report["integrity"]["intact"] is True


# ---- mpv: a clip with no decodable frame ----------------------------------------------------

HDMI = "hall-hdmi"


def _ffmpeg(*args: str) -> None:
    exe = shutil.which("ffmpeg")
    assert exe is not None
    subprocess.run([exe, "-v", "error", "-y", *args], check=True, timeout=60)


@dataclass
class MpvRun:
    site: Path
    returncode: int
    stderr: str
    t_swap: float


@pytest.fixture(scope="module")
def mpv_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MpvRun]:
    site = tmp_path_factory.mktemp("e2e-credit-mpv")
    (site / "media" / "af").mkdir(parents=True)
    clip = site / "media" / "af" / "fanzha.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x180:rate=25", "-t", "2", "-c:v",
            "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(clip))
    frameless, cut = site / "frameless.mp4", site / "cut.mp4"
    make_frameless(clip, frameless, cut)
    # the clip weighs more than the other anti-fraud items together (issue 10, item 2)
    af = [Item("af-clip", "clip", path="af/fanzha.mp4", weight=5),
          Item("af-text", "text", text="凡是刷单返利就是诈骗", duration_s=1.0),
          Item("af-call", "text", text="陌生来电要转账，先挂电话再核实", duration_s=1.0)]
    store = [Item("st-text", "text", text="新鲜水果每日到店", duration_s=1.0)]
    cfg = write_site(site, name="mpv-credit", driver="mpv", screen=HDMI, width=320, height=180,
                     options='{ vo = "null", ao = "null", fullscreen = false }', af=af,
                     store=store, max_gap=4.0, margin=1.0)
    proc = signage_run(cfg, "16s")
    try:
        wait_for(site / "log", proc, "the clip shown once", lambda rs: any(
            r["item"] == "af-clip" for r in showings(rs, HDMI)), timeout_s=15)
        t_swap = time.monotonic()
        shutil.copy(frameless, clip)  # same name, now without a decodable frame
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    yield MpvRun(site, proc.returncode, err, t_swap)


def _after(recs: list[Record], t: float) -> list[Record]:
    return [r for r in recs if r.get("mono", 0.0) > t + 0.1]


def test_mpv_frameless_clip_is_never_credited(mpv_run: MpvRun) -> None:
    assert mpv_run.returncode == 0, mpv_run.stderr
    recs = records(mpv_run.site / "log", mpv_run.site / "site.key")
    later = _after(recs, mpv_run.t_swap + 2.5)  # past the clip showing at the swap
    tried = [r for r in showings(later, HDMI) if r["item"] == "af-clip"]
    assert tried, "the frameless clip was never tried after the swap"
    for r in tried:  # tried, rejected, credited nothing
        assert r["outcome"] == "failed" and r["end_mono"] == r["start_mono"], r
        assert "decodable frame" in r["reason"] or "first frame" in r["reason"], r
    assert not [r for r in later if r["type"] == "showing_start" and r["item"] == "af-clip"]
    # the other anti-fraud items carry the rule meanwhile, and the clip is not retried in a
    # loop: at most one attempt per anti-fraud slot
    others = [r for r in showings(later, HDMI) if r["anti_fraud"] and r["item"] != "af-clip"
              and r["outcome"] == "completed"]
    assert len(others) >= 2
    assert len(tried) <= len(others) + 1
