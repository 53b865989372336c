"""Figures about a planned stretch of timeline: worst gap, shares, counts, and the store
airtime achieved against its theoretical bound."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import takewhile

from ..model import Screen, Site
from ..timeutil import local_ms
from .timeline import Entry, Timeline


@dataclass
class PlanStats:
    screen: str
    entries: int = 0
    airtime_ms: int = 0
    af_ms: int = 0
    store_ms: int = 0
    worst_gap_ms: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    af_durations_ms: list[int] = field(default_factory=list)

    @property
    def af_share(self) -> float:
        return self.af_ms / self.airtime_ms if self.airtime_ms else 0.0

    @property
    def store_share(self) -> float:
        return self.store_ms / self.airtime_ms if self.airtime_ms else 0.0


def measure(screen_id: str, entries: Iterable[Entry], start_to_start: bool) -> PlanStats:
    """Stats over consecutive entries. A gap is measured only between anti-fraud showings
    that lie in one contiguous stretch (no hole in the timeline between them), so closing
    time is not a gap; the first showing after a hole must start at the hole's end."""
    st = PlanStats(screen_id)
    ref = 0  # gap reference: end (or start) of the last anti-fraud showing
    prev_end: int | None = None
    for e in entries:
        st.entries += 1
        dur = e.end_ms - e.start_ms
        st.airtime_ms += dur
        st.counts[e.item.id] += 1
        if prev_end is None or e.start_ms != prev_end:
            ref = e.start_ms  # a new stretch (opening): the clock starts at its beginning
        if e.anti_fraud:
            st.af_ms += dur
            if not e.truncated:
                st.af_durations_ms.append(dur)
            st.worst_gap_ms = max(st.worst_gap_ms, e.start_ms - ref)
            ref = e.start_ms if start_to_start else e.end_ms
        else:
            st.store_ms += dur
            st.worst_gap_ms = max(st.worst_gap_ms, e.end_ms - ref)
        prev_end = e.end_ms
    return st


def plan_days(site: Site, screen: Screen, first: date, days: int) -> list[Entry]:
    tl = Timeline(site, screen)
    t0 = local_ms(first, 0, site.tz)
    t1 = local_ms(first + timedelta(days=days), 0, site.tz)
    return list(takewhile(lambda e: e.start_ms < t1, tl.entries(t0)))


def store_bound(budget_ms: int, mean_af_ms: float, start_to_start: bool = False) -> float:
    """The most store airtime a screen can have, per measure of the gap (G the budget, ā the
    mean anti-fraud duration):

    - end-to-start: each cycle is one anti-fraud showing and at most G of store content,
      so the share is at most G / (G + ā);
    - start-to-start: a cycle from one anti-fraud start to the next lasts at most G and
      holds the showing itself, so the share is at most (G - ā) / G.
    """
    if start_to_start:
        return max(0.0, (budget_ms - mean_af_ms) / budget_ms) if budget_ms > 0 else 0.0
    return budget_ms / (budget_ms + mean_af_ms) if budget_ms + mean_af_ms > 0 else 0.0


def mean_af_ms(stats: PlanStats) -> float:
    d = stats.af_durations_ms
    return sum(d) / len(d) if d else 0.0
