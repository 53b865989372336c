"""Never the same anti-fraud item twice in a row on a screen, and an item that failed or ended
early is set aside while the rotation moves on (issue 10, item 2)."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from signage_drivers.simulator import SimulatorDriver

from signage.driver import ContentRejected, ItemKind, Showable
from signage.load import load_site
from signage.plan import Timeline
from signage.runtime.runner import ASIDE_S
from tests.conftest import small_site
from tests.runtime.runnerkit import TZ, virtual_runner


class ClipEndsAtOnce(SimulatorDriver):
    """The simulator, except that every clip reaches its end of file 50 ms after its first
    frame (as a clip whose container claims more than its payload holds)."""

    _ended: float | None = None

    def show(self, item: Showable) -> float:
        t = super().show(item)
        self._ended = t + 0.05 if item.kind is ItemKind.CLIP else None
        return t

    def poll_end(self) -> float | None:
        return self._ended


def _site_with_heavy_clip(tmp_path: Path) -> Path:
    cfg = small_site(tmp_path, max_gap=6.0, margin=1.0, af_s=(1.0, 1.0), store_s=(1.0,))
    exe = shutil.which("ffmpeg")
    assert exe is not None
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=160x90:rate=25", "-t", "2", "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", str(tmp_path / "media" / "clip.mp4")], check=True, timeout=60)
    af = tmp_path / "playlists" / "af.toml"
    # the clip weighs more than the two slogans together
    af.write_text(af.read_text("utf-8") + '\n[[items]]\nid = "af-clip"\ntype = "clip"\n'
                  'path = "clip.mp4"\nduration_s = 2.0\nweight = 5\n', "utf-8")
    return cfg


def _run(tmp_path: Path, cfg: Path, driver_cls: type[SimulatorDriver], start: datetime,
         seconds: float) -> list[dict[str, Any]]:
    r, clock, log = virtual_runner(tmp_path, cfg, start, driver_cls, poll_clips=True)
    r.start()
    end = clock.monotonic() + seconds
    steps = 0
    while clock.monotonic() < end:
        steps += 1
        assert steps < 200_000, "the runner spins"
        clock.sleep_until(max(clock.monotonic(), min(r.wake_at(), end)))
        r.act()
    r.finish("test end")
    return log.recs


def test_a_clip_that_ends_at_once_is_set_aside_not_looped(tmp_path: Path) -> None:
    cfg = _site_with_heavy_clip(tmp_path)
    recs = _run(tmp_path, cfg, ClipEndsAtOnce, datetime(2026, 12, 1, 10, 0, tzinfo=TZ), 120.0)
    starts = [r["item"] for r in recs if r["type"] == "showing_start"]
    assert starts.count("af-clip") == 1, starts[:20]  # ended early once: set aside
    assert all(a != b for a, b in itertools.pairwise(starts) if a.startswith("af")), \
        starts
    ended = [r for r in recs if r["type"] == "showing" and r["item"] == "af-clip"]
    assert ended[0]["outcome"] == "cut_short"
    assert sum(1 for s in starts if s.startswith("af")) >= 15  # the slogans carry the rule


def _consecutive_af(tl: Timeline, t0: int, t1: int) -> list[str]:
    out = []
    for e in tl.entries(t0):
        if e.start_ms >= t1:
            break
        if e.anti_fraud:
            out.append(e.item.id)
    return out


def test_the_plan_never_repeats_an_item_at_midnight_or_a_daypart_change(tmp_path: Path) -> None:
    """A 24-hour site; a second anti-fraud playlist, with a daypart, shares nothing but adds
    its own pool: at 12:00, 13:00 and every midnight the pool changes or the day's rotation
    starts afresh. No anti-fraud item may follow itself."""
    cfg = small_site(tmp_path, max_gap=5.0, margin=1.0, af_s=(1.0, 1.3), store_s=(1.0,))
    (tmp_path / "playlists" / "noon.toml").write_text(
        'name = "午间"\ncontent = "anti-fraud"\ndayparts = ["12:00-13:00"]\n'
        '\n[[items]]\nid = "noon"\ntype = "text"\ntext = "午间提醒"\nduration_s = 1.0\n',
        "utf-8")
    text = cfg.read_text("utf-8").replace('playlists = ["af", "store"]',
                                          'playlists = ["af", "noon", "store"]')
    cfg.write_text(text, "utf-8")
    site = load_site(cfg, date(2026, 12, 1)).site
    tl = Timeline(site, site.screens[0])
    for day in (date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)):
        for hh in (0, 12, 13):
            at = datetime(day.year, day.month, day.day, hh, 0, tzinfo=TZ)
            t = int((at - timedelta(minutes=2)).timestamp() * 1000)
            seq = _consecutive_af(tl, t, t + 4 * 60_000)
            assert len(seq) > 20
            repeats = [(i, a) for i, (a, b) in enumerate(itertools.pairwise(seq))
                       if a == b]
            assert not repeats, (day, hh, repeats, seq)


def test_a_replan_does_not_repeat_the_item_on_screen(tmp_path: Path) -> None:
    cfg = small_site(tmp_path, max_gap=5.0, margin=1.0, af_s=(1.0, 1.0, 1.0), store_s=(1.0,))
    site = load_site(cfg, date(2026, 12, 1)).site
    tl = Timeline(site, site.screens[0])
    t = int(datetime(2026, 12, 1, 10, 0, tzinfo=TZ).timestamp() * 1000)
    it = tl.entries(t)
    first = next(it)
    # the runner looked ahead (the next anti-fraud entry is planned), then re-plans
    ahead = [next(it) for _ in range(6)]
    assert any(e.anti_fraud for e in ahead)
    again = next(tl.replan(t + 500, last=first.item.id))
    assert again.anti_fraud and again.item.id != first.item.id
    # set aside: skipped while another item is left
    nxt = next(tl.replan(t + 600, last=first.item.id, aside={"af1": t + 60_000}))
    assert nxt.item.id not in (first.item.id, "af1")


class RejectsOneStoreItem(SimulatorDriver):
    """The simulator, except that store item st0 never shows (its file is broken)."""

    tries = 0

    def show(self, item: Showable) -> float:
        if item.item_id == "st0":
            type(self).tries += 1
            raise ContentRejected("st0.png: cannot decode the image")
        return super().show(item)


def test_a_store_item_that_fails_is_set_aside_like_an_anti_fraud_one(tmp_path: Path) -> None:
    """A store item that fails to show is set aside for ASIDE_S (the filler packs the gaps
    without it), as a failing anti-fraud item is; an item_aside record says which, until when
    and why. After the time it is tried again."""
    cfg = small_site(tmp_path, max_gap=6.0, margin=1.0, af_s=(1.0, 1.5),
                     store_s=(1.0, 0.5, 2.0))
    RejectsOneStoreItem.tries = 0
    recs = _run(tmp_path, cfg, RejectsOneStoreItem, datetime(2026, 12, 1, 10, 0, tzinfo=TZ),
                ASIDE_S - 30)
    failed = [r for r in recs if r["type"] == "showing" and r["item"] == "st0"]
    assert RejectsOneStoreItem.tries == 1 and len(failed) == 1, failed
    assert failed[0]["outcome"] == "failed"
    (aside,) = [r for r in recs if r["type"] == "item_aside"]
    assert aside["screen"] == "s1" and aside["item"] == "st0" and not aside["anti_fraud"]
    assert "cannot decode the image" in aside["reason"]
    until = datetime.fromisoformat(aside["until"]) - datetime.fromisoformat(failed[0]["end"])
    assert abs(until.total_seconds() - ASIDE_S) < 0.01
    # the other store items fill the gaps meanwhile; the rule holds
    shown = [r["item"] for r in recs if r["type"] == "showing" and r["outcome"] != "failed"]
    assert shown.count("st1") > 20 and shown.count("st2") > 20
    af = [r for r in recs if r["type"] == "showing" and r["anti_fraud"]
          and r["outcome"] != "failed"]
    assert max(b["start_mono"] - a["end_mono"] for a, b in itertools.pairwise(af)) <= 5.0 + 1e-6


def test_the_planner_fills_gaps_without_a_store_item_set_aside(tmp_path: Path) -> None:
    cfg = small_site(tmp_path, max_gap=6.0, margin=1.0, af_s=(1.0, 1.5),
                     store_s=(1.0, 0.5, 2.0))
    site = load_site(cfg, date(2026, 12, 1)).site
    tl = Timeline(site, site.screens[0])
    t = int(datetime(2026, 12, 1, 10, 0, tzinfo=TZ).timestamp() * 1000)
    plan = list(itertools.takewhile(lambda e: e.start_ms < t + 600_000,
                                    tl.replan(t, aside={"st2": t + 300_000})))
    before = [e for e in plan if e.start_ms < t + 300_000]
    after = [e for e in plan if e.start_ms >= t + 300_000]
    assert not [e for e in before if e.item.id == "st2"]
    assert {e.item.id for e in before if not e.anti_fraud} == {"st0", "st1"}
    assert [e for e in after if e.item.id == "st2"]  # tried again once the time is over
    af = [e for e in plan if e.anti_fraud]
    assert max(b.start_ms - a.end_ms for a, b in itertools.pairwise(af)) <= 5000
