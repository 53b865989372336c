"""End to end on the HDMI path: `signage run` (a real process) -> mpv driver -> a real mpv
(headless: vo=null, ao=null) playing text slides, a PNG and an H.264 clip made with ffmpeg's
lavfi sources. No mocks.

One run of 22 s with two faults in turn: the anti-fraud clip is deleted after validation
(while the daemon runs), then the mpv child process is SIGKILLed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from signage.runtime.runner import HEALTH_POLL_S
from tests.logtools import af_gaps, planned_af_gaps, records, start_errors

from .e2etools import (
    Item,
    Record,
    af_gap_spans,
    audit_json,
    children,
    outages,
    overlaps,
    percentile,
    showings,
    signage_run,
    wait_for,
    write_site,
)

SCREEN = "hall-hdmi"
MAX_GAP = 3.0
RUN_S = 22
CLIP_S = 1.0

AF = [
    Item("af-clip", "clip", path="af/fanzha.mp4", weight=2),  # duration: ffprobe, validate time
    Item("af-shuadan", "text", text="凡是刷单返利就是诈骗", duration_s=0.8),
    Item("af-call", "text", text="陌生来电要转账，先挂电话再核实", duration_s=0.6),
]
STORE = [
    Item("st-poster", "image", path="promo/rice.png", duration_s=1.0),
    Item("st-text", "text", text="新鲜水果每日到店", duration_s=0.5),
]


def _ffmpeg(*args: str) -> None:
    exe = shutil.which("ffmpeg")
    assert exe is not None, "ffmpeg is needed to generate the test media"
    subprocess.run([exe, "-v", "error", "-y", *args], check=True, timeout=60)


def _mpv_children(pid: int) -> list[int]:
    return [c for c, argv in children(pid)
            if argv and os.path.basename(argv[0]).startswith("mpv")]


@dataclass
class MpvRun:
    site: Path
    returncode: int
    stderr: str
    t_delete: float
    t_kill: float
    killed_pid: int
    later_pid: int
    mpv_pids: set[int]


@pytest.fixture(scope="module")
def mpv_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MpvRun]:
    site = tmp_path_factory.mktemp("e2e-mpv")
    (site / "media" / "af").mkdir(parents=True)
    (site / "media" / "promo").mkdir()
    clip = site / "media" / "af" / "fanzha.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x180:rate=25", "-t", str(CLIP_S),
            "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip))
    _ffmpeg("-f", "lavfi", "-i", "color=c=orange:size=320x180", "-frames:v", "1",
            str(site / "media" / "promo" / "rice.png"))
    options = '{ vo = "null", ao = "null", fullscreen = false }'
    cfg = write_site(site, name="mpv", driver="mpv", screen=SCREEN, width=320, height=180,
                     options=options, af=AF, store=STORE, max_gap=MAX_GAP, margin=1.0)
    proc = signage_run(cfg, f"{RUN_S}s")
    log = site / "log"
    seen: set[int] = set()
    try:
        # 1. the clip plays once, then disappears from the disk while the daemon runs
        wait_for(log, proc, "a completed showing of the clip", lambda rs: any(
            r["item"] == "af-clip" and r["outcome"] == "completed"
            for r in showings(rs, SCREEN)), timeout_s=RUN_S + 60)
        seen.update(_mpv_children(proc.pid))
        t_delete = time.monotonic()
        clip.unlink()
        failed = wait_for(log, proc, "the missing clip rejected", lambda rs: [
            r for r in showings(rs, SCREEN)
            if r["item"] == "af-clip" and r["outcome"] == "failed"], timeout_s=RUN_S + 60)
        # 2. the player dies in the middle of the second item after the substitute
        wait_for(log, proc, "two more starts", lambda rs: len(
            [r for r in rs if r["type"] == "showing_start" and r["seq"] > failed[0]["seq"]]
        ) >= 2, timeout_s=RUN_S + 60)
        time.sleep(0.2)
        (killed,) = _mpv_children(proc.pid)
        seen.add(killed)
        t_kill = time.monotonic()
        os.kill(killed, signal.SIGKILL)
        wait_for(log, proc, "screen_up", lambda rs: any(
            r["type"] == "screen_up" for r in rs), timeout_s=RUN_S + 60)
        later = wait_for(log, proc, "a new mpv", lambda _rs: [
            p for p in _mpv_children(proc.pid) if p != killed], timeout_s=RUN_S + 60)
        seen.update(later)
        _out, err = proc.communicate(timeout=RUN_S + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    yield MpvRun(site, proc.returncode, err, t_delete, t_kill, killed, later[0], seen)


def _recs(run: MpvRun) -> list[Record]:
    return records(run.site / "log", run.site / "site.key")  # asserts the chain


def _window(recs: list[Record], t_fault: float) -> list[tuple[float, float]]:
    ((down, up, _d, _u),) = outages(recs, SCREEN)
    return [(min(down, t_fault), up)]


def test_the_run_ends_cleanly_and_the_chain_verifies(mpv_run: MpvRun) -> None:
    assert mpv_run.returncode == 0, mpv_run.stderr
    recs = _recs(mpv_run)
    assert recs[0]["type"] == "run_start" and recs[0]["screens"][0]["driver"] == "mpv"
    assert recs[-1]["type"] == "run_stop" and recs[-1]["reason"] == "duration reached"
    _code, report = audit_json(mpv_run.site / "log", mpv_run.site / "site.key", mpv_run.site)
    assert report["integrity"]["intact"] is True, report["integrity"]["findings"]
    # no player outlives the daemon (fd IPC: mpv quits when the connection closes)
    deadline = time.monotonic() + 3
    alive = mpv_run.mpv_pids
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if _running(p)}
        time.sleep(0.05)
    assert not alive, f"mpv left running: {alive}"


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def test_every_kind_plays_and_the_clip_lasts_its_probed_duration(mpv_run: MpvRun) -> None:
    recs = _recs(mpv_run)
    done = [r for r in showings(recs, SCREEN) if r["outcome"] == "completed"]
    assert {r["item"] for r in done} >= {i.id for i in AF + STORE}
    assert {r["kind"] for r in done} == {"text", "image", "clip"}
    # the clip's duration was probed by ffprobe at validate time, and cached by content
    cache = json.loads((mpv_run.site / "var" / "cache" / "ffprobe.json").read_text())
    (entry,) = cache["entries"].values()
    assert entry["duration_s"] == pytest.approx(CLIP_S, abs=0.05)
    planned = {r["start_mono"]: r["planned_mono"] for r in recs
               if r["type"] == "showing_start" and r["item"] == "af-clip"}
    for r in (r for r in done if r["item"] == "af-clip"):
        # planned from the probed duration: it ends when its planned slot ends (a late
        # start only shortens it), and an on-time clip plays whole
        assert r["end_mono"] - planned[r["start_mono"]] == pytest.approx(CLIP_S, abs=0.1), r
        if r["start_mono"] - planned[r["start_mono"]] < 0.05:
            assert r["end_mono"] - r["start_mono"] == pytest.approx(CLIP_S, abs=0.1), r


def test_starts_are_confirmed_on_time(mpv_run: MpvRun) -> None:
    recs = _recs(mpv_run)
    errs = [abs(e) for e in start_errors(recs)[1:]]  # the first joins the plan mid-item
    assert len(errs) >= 25
    p50, p99 = percentile(errs, 50), percentile(errs, 99)
    print(f"mpv start error (|start_mono - planned_mono|, {len(errs)} starts): "
          f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {max(errs) * 1000:.1f} ms")
    # order of magnitude only (a busy machine must not fail it): the target, p99 <= 100 ms,
    # is measured by bench/start_error.py, figures in docs/benchmarks.md
    assert p99 <= 1.0, sorted(errs)[-5:]


def test_gaps_hold_outside_the_player_outage(mpv_run: MpvRun) -> None:
    recs = _recs(mpv_run)
    window = _window(recs, mpv_run.t_kill)
    spans = af_gap_spans(recs, SCREEN)
    assert sorted(af_gaps(recs)[SCREEN]) == pytest.approx(sorted(b - a for a, b in spans))
    kept = [b - a for a, b in spans if not overlaps((a, b), window)]
    across = [b - a for a, b in spans if overlaps((a, b), window)]
    assert len(kept) >= 5, spans
    # as planned, within the budget (MAX_GAP - 1 s margin); the real ones only catch a hang
    # (a busy machine makes switches late: the start errors measure that)
    assert max(planned_af_gaps(recs, SCREEN, tuple(window))) <= MAX_GAP - 1.0 + 0.001
    assert max(kept) <= MAX_GAP + 10, (max(kept), spans)
    print(f"mpv gaps: {len(kept)} outside the outage, max {max(kept):.3f} s, "
          f"p50 {percentile(kept, 50):.3f} s; across the outage "
          + ", ".join(f"{g:.3f} s" for g in across))


def test_a_clip_deleted_during_the_run_is_rejected_and_substituted(mpv_run: MpvRun) -> None:
    recs = _recs(mpv_run)
    errors = [r for r in recs if r["type"] == "driver_error" and r["error"] == "rejected"]
    assert errors and all(r["item"] == "af-clip" for r in errors)
    assert all(r["mono"] > mpv_run.t_delete for r in errors)
    assert "fanzha.mp4" in errors[0]["message"]
    failed = [r for r in showings(recs, SCREEN) if r["outcome"] == "failed"]
    assert [r["item"] for r in failed] == ["af-clip"] * len(errors)
    assert all(r["start_mono"] == r["end_mono"] for r in failed)  # no airtime is claimed
    for f in failed:  # an anti-fraud substitute goes up at once, never the missing clip
        nxt = next(r for r in recs if r["type"] == "showing_start" and r["seq"] > f["seq"])
        assert nxt["anti_fraud"] is True and nxt["item"] != "af-clip"
        assert nxt["start_mono"] - f["end_mono"] < 10, (f, nxt)  # at once (10 s: a hang)
    # the gaps around each rejection hold (the player outage comes later)
    window = _window(recs, mpv_run.t_kill)
    around = [(a, b) for a, b in af_gap_spans(recs, SCREEN)
              if any(a <= f["end_mono"] <= b for f in failed) and not overlaps((a, b), window)]
    assert around and max(b - a for a, b in around) <= MAX_GAP + 10  # (a hang)
    # before the deletion the clip played
    assert any(r["item"] == "af-clip" and r["outcome"] == "completed"
               and r["end_mono"] < mpv_run.t_delete for r in showings(recs, SCREEN))


def test_killed_player_is_screen_down_then_up_and_play_resumes(mpv_run: MpvRun) -> None:
    recs = _recs(mpv_run)
    ((down, up, d, u),) = outages(recs, SCREEN)
    # noticed at the next switch or health check: nothing started between the kill and the
    # screen_down (how long that took is up to the machine: 30 s only catches a hang)
    assert mpv_run.t_kill <= down <= mpv_run.t_kill + 30, (mpv_run.t_kill, down)
    assert not [r for r in recs if r["type"] == "showing_start"
                and mpv_run.t_kill < r["start_mono"] < down]
    assert "mpv" in d["reason"], d["reason"]
    assert u["down_s"] == pytest.approx(up - down, abs=0.01)
    assert up - down < 30  # (a hang)
    assert mpv_run.later_pid != mpv_run.killed_pid  # open() started a fresh player
    cut = [r for r in showings(recs, SCREEN) if r["reason"] == "screen unavailable"]
    # credited only up to the last instant the player was known alive, which is no later
    # than the kill (health checks run about every second between switches)
    assert len(cut) == 1
    # (how much earlier depends on how often a busy machine ran the checks: under-claiming
    # is allowed, so only a hang-sized shortfall fails)
    assert down - HEALTH_POLL_S - 10 <= cut[0]["end_mono"] <= mpv_run.t_kill + 0.05, (
        cut[0]["end_mono"], mpv_run.t_kill, down)
    starts = [r for r in recs if r["type"] == "showing_start"]
    assert not [r for r in starts if mpv_run.t_kill < r["start_mono"] < up]
    after = [r for r in starts if r["start_mono"] > up]
    assert len(after) >= 2, "showings did not resume after screen_up"
    # the first thing after screen_up is anti-fraud content (promptly: 10 s catches a hang)
    assert after[0]["anti_fraud"] is True and after[0]["start_mono"] - up < 10
    assert [r for r in showings(recs, SCREEN) if r["anti_fraud"] and r["start_mono"] > up
            and r["outcome"] == "completed"]
    _code, report = audit_json(mpv_run.site / "log", mpv_run.site / "site.key", mpv_run.site)
    outs = [o for o in report["outages"] if o["kind"] == "screen_down"]
    assert len(outs) == 1 and outs[0]["length_s"] == pytest.approx(up - down, abs=0.01)
    assert all("screen_down" in v["causes"] for v in report["violations"]), report["violations"]
    print(f"mpv outage: down noticed +{down - mpv_run.t_kill:.3f} s after SIGKILL, "
          f"screen_down for {u['down_s']:.3f} s; pid {mpv_run.killed_pid} -> "
          f"{mpv_run.later_pid}")
