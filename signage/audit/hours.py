"""Opening hours over time: each run_start / accepted reload brings the hours (and timezone)
in force from its instant on. Pure; times are epoch milliseconds."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..config import Hours
from ..timeutil import local_ms

DAY_MS = 86_400_000
_UTC = ZoneInfo("UTC")


class HoursTimeline:
    def __init__(self) -> None:
        self._from: list[int] = []
        self._hours: list[tuple[Hours, ZoneInfo]] = []
        self._limits: list[int] = []
        self._cache: dict[tuple[int, date], list[tuple[int, int]]] = {}

    def add(self, from_ms: int, hours: Hours, tz: ZoneInfo, limit_ms: int) -> None:
        """Hours (and the gap limit) in force from ``from_ms``. A change dated at or before the
        previous one (the wall clock stepped back) replaces it."""
        if self._from and from_ms <= self._from[-1]:
            self._hours[-1] = (hours, tz)
            self._limits[-1] = limit_ms
        else:
            self._from.append(from_ms)
            self._hours.append((hours, tz))
            self._limits.append(limit_ms)
        self._cache.clear()

    def distinct_limits(self) -> set[int]:
        return set(self._limits)

    def limit_in(self, a: int, b: int) -> int:
        """The strictest gap limit in force during [a, b]."""
        if not self._limits:
            return 2**62
        return min(self._limits[self._index(a):self._index(b) + 1])

    def tz_at(self, t: int) -> ZoneInfo:
        return self._hours[self._index(t)][1] if self._hours else _UTC

    def _index(self, t: int) -> int:
        return max(0, bisect_right(self._from, t) - 1)

    def _day_spans(self, i: int, day: date) -> list[tuple[int, int]]:
        key = (i, day)
        got = self._cache.get(key)
        if got is None:
            hours, tz = self._hours[i]
            got = [(local_ms(day, a, tz), local_ms(day, b, tz)) for a, b in hours.spans_for(day)]
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = got
        return got

    def open_in(self, a: int, b: int) -> list[tuple[int, int]]:
        """The parts of [a, b] inside opening hours, as maximal intervals (spans that touch,
        e.g. 24:00 and the next day's 00:00, are one)."""
        if b <= a or not self._from:
            return []
        out: list[tuple[int, int]] = []
        first = self._index(a)
        last = self._index(b)
        for i in range(first, last + 1):
            lo = a if i == first else max(a, self._from[i])
            hi = b if i == last else min(b, self._from[i + 1])
            if hi <= lo:
                continue
            tz = self._hours[i][1]
            d = datetime.fromtimestamp(lo / 1000, tz).date() - timedelta(days=1)
            end = datetime.fromtimestamp(hi / 1000, tz).date()
            while d <= end:
                for s0, s1 in self._day_spans(i, d):
                    x0, x1 = max(s0, lo), min(s1, hi)
                    if x1 > x0:
                        if out and x0 <= out[-1][1]:
                            out[-1] = (out[-1][0], max(out[-1][1], x1))
                        else:
                            out.append((x0, x1))
                d += timedelta(days=1)
        return out

    def stretch_at(self, t: int) -> tuple[int, int, bool]:
        """(start, end, open): a stretch around ``t`` (within two days) that is all open or all
        closed. A cache hint: a gap inside an open stretch needs no clipping."""
        lo, hi = t - 2 * DAY_MS, t + 2 * DAY_MS
        prev = lo
        for o0, o1 in self.open_in(lo, hi):
            if t < o0:
                return prev, o0, False
            if t < o1:
                return o0, o1, True
            prev = o1
        return prev, hi, False

    def per_hour(self, pieces: list[tuple[int, int]]) -> Iterable[tuple[date, int, int]]:
        """(local day, hour, milliseconds) of each part of ``pieces``."""
        for p0, p1 in pieces:
            a = p0
            while a < p1:
                tz = self.tz_at(a)
                day = datetime.fromtimestamp(a / 1000, tz).date()
                d0 = local_ms(day, 0, tz)
                hour = min(23, (a - d0) // 3_600_000)
                b = min(p1, local_ms(day + timedelta(days=1), 0, tz),
                        d0 + (hour + 1) * 3_600_000 if hour < 23 else p1)
                yield day, hour, b - a
                a = b
