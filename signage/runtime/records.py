"""What a screen runner writes: the log sink it writes to, the showing on screen, the fields
of a ``showing`` record and its outcome, and the worst gap of the day for the live table.
Pure: no clock, no I/O (the runner passes the instants and writes the records)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ..audit.hours import HoursTimeline
from ..model import Item, Screen, Site


class Sink(Protocol):
    def append(self, rtype: str, **fields: Any) -> None: ...

    def append_dict(self, rtype: str, fields: dict[str, Any]) -> None:
        """``append(rtype, **fields)`` with the fields already in a dict, which the sink then
        owns (the runner's two records of every switch: no copy of the keywords)."""


@dataclass(slots=True)
class OnScreen:
    item: Item
    planned_ms: int
    planned_end_mono: float
    start_mono: float
    start_wall: float
    planned_iso: str
    start_iso: str
    cut: str = ""  # the plan cuts it at a boundary (closing, daypart, midnight): why


def settle(on: OnScreen, t_end: float, outcome: str | None, reason: str) -> tuple[str, str]:
    """A showing's outcome and reason when it ends at ``t_end``: the given outcome, else
    ``completed`` when it reached (within 0.25 s) its planned end, else ``cut_short``; one
    that played to a boundary that cut it is ``cut_short`` with the plan's reason."""
    if outcome is None:
        outcome = "completed" if t_end >= on.planned_end_mono - 0.25 else "cut_short"
        if outcome == "completed" and on.cut:
            outcome, reason = "cut_short", on.cut  # played to a boundary that cut it
    return outcome, reason


def showing_fields(screen_id: str, item: Item, planned_iso: str, start_iso: str,
                   end_iso: str, start: float, end: float, outcome: str,
                   reason: str) -> dict[str, Any]:
    """The fields of a ``showing`` record (docs/log-format.md)."""
    return {
        "screen": screen_id, "item": item.id, "playlist": item.playlist,
        "kind": item.kind._value_, "category": item.category, "anti_fraud": item.anti_fraud,
        "planned": planned_iso, "start": start_iso, "end": end_iso,
        "start_mono": round(start, 3), "end_mono": round(end, 3), "outcome": outcome,
        "reason": reason,
    }


def open_hours(site: Site, screen: Screen) -> HoursTimeline:
    """The screen's opening hours, measured the way the audit measures them."""
    h = HoursTimeline()
    h.add(0, site.hours_of(screen), site.tz, site.rule.max_gap_ms)
    return h


class WorstGap:
    """The worst gap between anti-fraud showings today (local day), counting open time only,
    as the audit does: a gap across a closed night is two pieces (to closing, from opening),
    each within today's part."""

    __slots__ = ("_open", "_span", "worst")

    def __init__(self) -> None:
        self.worst = 0.0
        self._span = (0.0, 0.0)  # wall times [start, end) of today
        # the open stretch [o0, o1) (ms) around the last showing, and whose hours it is in:
        # a gap inside it is all open time (no clipping to the hours needed)
        self._open: tuple[HoursTimeline | None, int, int] = (None, 0, 0)

    def note(self, hours: HoursTimeline, tz: ZoneInfo, ref_wall: float | None,
             wall: float) -> None:
        """An anti-fraud showing starts at ``wall``; the last one ended (or started, in
        start-to-start mode) at ``ref_wall`` (None: none yet in this run)."""
        if not self._span[0] <= wall < self._span[1]:  # a new day (or a step)
            day = datetime.fromtimestamp(wall, tz).date()
            nxt = day + timedelta(days=1)
            self._span = (datetime(day.year, day.month, day.day, tzinfo=tz).timestamp(),
                          datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).timestamp())
            self.worst = 0.0
        if ref_wall is None:
            return
        day0_ms = int(self._span[0] * 1000)
        a, b = int(ref_wall * 1000), int(wall * 1000)
        got, o0, o1 = self._open
        if got is not hours or not o0 <= b < o1:
            o0, o1, is_open = hours.stretch_at(b)
            if not is_open:
                o0 = o1 = b  # closed at b: no stretch to reuse
            self._open = (hours, o0, o1)
        if o0 <= a and b < o1:  # all of [a, b] is open: the one piece is [a, b] itself
            if b > a and b > day0_ms:
                self.worst = max(self.worst, (b - max(a, day0_ms)) / 1000.0)
            return
        for x0, x1 in hours.open_in(a, b):
            if x1 > day0_ms:
                self.worst = max(self.worst, (x1 - max(x0, day0_ms)) / 1000.0)
