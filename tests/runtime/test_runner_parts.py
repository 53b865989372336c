"""The runner's pure parts (split out of signage/runtime/runner.py): the clock mapping, the
availability state, a showing's outcome and record fields, the day's worst gap, and the gap
guard. The runner's behaviour with them is covered by the other tests in this directory."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from signage.audit.hours import HoursTimeline
from signage.config import Hours
from signage.driver import ItemKind
from signage.model import Item
from signage.runtime.availability import BACKOFF_MAX_S, BACKOFF_MIN_S, Availability
from signage.runtime.clockmap import ClockMap
from signage.runtime.guard import would_break
from signage.runtime.records import OnScreen, WorstGap, settle, showing_fields

TZ = ZoneInfo("Asia/Shanghai")
ITEM = Item("a1", "af", ItemKind.TEXT, True, 1.0, 8000, text="t", category="主题")


def test_clock_map_follows_the_offset_and_flags_a_step() -> None:
    m = ClockMap()
    m.sync(100.0, 1_000_000.0)
    assert m.mono_of(1_000_010_000) == pytest.approx(110.0)
    assert m.wall_of(110.0) == pytest.approx(1_000_010.0)
    m.sync(101.0, 1_000_001.2)  # drift below a step: followed silently
    assert not m.stepped
    m.sync(102.0, 1_003_602.0)  # the wall clock jumped an hour
    assert m.stepped
    assert m.wall_of(50.0) == pytest.approx(1_000_000.0 - 50.0)  # before the step: old offset
    assert m.wall_of(102.0) == pytest.approx(1_003_602.0)


def test_availability_backs_off_and_records_each_outage_once() -> None:
    a = Availability()
    assert a.went_down(0.0)  # the first failure after a start is an outage
    assert a.retry_at == BACKOFF_MIN_S
    assert not a.went_down(1.0)  # still the same outage: no second screen_down
    assert a.down_since == 0.0 and a.retry_at == 1.0 + 2 * BACKOFF_MIN_S
    for t in range(2, 20):
        a.went_down(float(t))
    assert a.backoff == BACKOFF_MAX_S
    assert a.came_up(25.0) == 25.0 and a.up and a.backoff == BACKOFF_MIN_S
    assert a.came_up(26.0) is None  # it was not down
    assert a.went_down(30.0) and a.down_since == 30.0  # up, then down: a new outage


def _on(cut: str = "") -> OnScreen:
    return OnScreen(ITEM, 0, 108.0, 100.0, 1e9, "p", "s", cut)


def test_settle_outcomes() -> None:
    assert settle(_on(), 107.8, None, "r") == ("completed", "r")
    assert settle(_on(), 107.7, None, "r") == ("cut_short", "r")
    assert settle(_on("cut at closing time"), 108.0, None, "r") == (
        "cut_short", "cut at closing time")
    assert settle(_on(), 108.0, "cut_short", "screen unavailable") == (
        "cut_short", "screen unavailable")


def test_showing_fields() -> None:
    f = showing_fields("s0", ITEM, "P", "S", "E", 1.235, 9.87654, "completed", "")
    assert f == {"screen": "s0", "item": "a1", "playlist": "af", "kind": "text",
                 "category": "主题", "anti_fraud": True, "planned": "P", "start": "S",
                 "end": "E", "start_mono": 1.235, "end_mono": 9.877, "outcome": "completed",
                 "reason": ""}


def test_worst_gap_counts_open_time_only_and_restarts_each_day() -> None:
    h = HoursTimeline()
    h.add(0, Hours(default=["08:00-22:00"]), TZ, 60_000)
    w = WorstGap()

    def at(d: int, hh: int, mm: int, ss: int = 0) -> float:
        return datetime(2026, 12, d, hh, mm, ss, tzinfo=TZ).timestamp()

    w.note(h, TZ, None, at(1, 10, 0))
    assert w.worst == 0.0
    w.note(h, TZ, at(1, 10, 0), at(1, 10, 0, 55))
    assert w.worst == 55.0
    # closed 22:00-08:00: the gap from 21:59:30 to 08:00:20 counts 20 s of today
    w.note(h, TZ, at(1, 21, 59, 30), at(2, 8, 0, 20))
    assert w.worst == 20.0


@pytest.mark.parametrize(("s2s", "ref", "on", "end", "want"), [
    (False, None, False, 5.0, True),    # nothing anti-fraud yet in this run
    (False, 100.0, False, 158.0, False),  # 58 s after the last end: fits (limit 59)
    (False, 100.0, False, 159.5, True),
    (False, 100.0, True, 158.5, False),  # one on screen: measured from now (100)
    (True, 100.0, False, 158.0, False),  # start-to-start: from its start
    (True, 100.0, False, 160.0, True),
])
def test_gap_guard(s2s: bool, ref: float | None, on: bool, end: float, want: bool) -> None:
    assert would_break(ref, on, 100.0, end, 60_000, 1.0, s2s) is want


@pytest.mark.parametrize("hours", [["08:00-22:00"], ["00:00-24:00"],
                                   ["06:00-12:00", "13:00-23:30"]])
def test_worst_gap_fast_path_agrees_with_the_hours(hours: list[str]) -> None:
    """The open stretch kept between notes gives the same worst gap as clipping every gap
    to the hours (the audit's way), over a week of random gaps, across nights and days."""
    import random

    h = HoursTimeline()
    h.add(0, Hours(default=hours), TZ, 60_000)
    rng = random.Random(7)  # noqa: S311 (test data, not secrets)
    w = WorstGap()
    t = datetime(2026, 12, 1, 7, 0, tzinfo=TZ).timestamp()
    ref: float | None = None
    worst, span = 0.0, (0.0, 0.0)
    for _ in range(3000):
        t += rng.choice([0.0, 0.5, 7.25, 30.0, 55.0, 59.9, 600.0, 3600.0 * 9])
        w.note(h, TZ, ref, t)
        if not span[0] <= t < span[1]:
            d = datetime.fromtimestamp(t, TZ).date()
            d0 = datetime(d.year, d.month, d.day, tzinfo=TZ).timestamp()
            span, worst = (d0, d0 + 86400), 0.0  # (no DST in Asia/Shanghai)
        if ref is not None:
            for x0, x1 in h.open_in(int(ref * 1000), int(t * 1000)):
                if x1 > int(span[0] * 1000):
                    worst = max(worst, (x1 - max(x0, int(span[0] * 1000))) / 1000.0)
        assert w.worst == worst
        ref = t + rng.choice([0.0, 8.0, 15.0])
