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

from signage.driver import ItemKind, Showable
from signage.load import load_site
from signage.plan import Timeline
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
