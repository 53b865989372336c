"""The planner: a lazily generated, deterministic timeline per screen.

Within each open segment the timeline alternates: one anti-fraud showing, then store content
packed into the gap budget (``max_gap - margin``; in start-to-start mode the budget also
pays for the anti-fraud showing itself), then the next anti-fraud showing. Every segment
opens with an anti-fraud showing, and no entry outlives its segment (the last one is cut at
the segment's end), so the rule holds across opening, closing and daypart changes.

Rotation state starts fresh each local day (fairness is per day) and is carried across the
segments of the day and across re-plans, so a re-plan never restarts the rotation.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import date, timedelta
from typing import NamedTuple

from ..model import Item, Screen, Site
from ..timeutil import local_date
from .rotation import Filler, Rotation, stagger
from .segments import Segment, day_segments

#: don't start a showing in the last moment of a segment (it would be a flash)
MIN_SHOWING_MS = 1000
#: stop looking for an open day after this many closed ones
MAX_CLOSED_DAYS = 400


class Entry(NamedTuple):
    start_ms: int
    end_ms: int
    item: Item
    anti_fraud: bool
    #: cut at the end of its segment (closing time or a daypart change)
    truncated: bool = False
    #: why it was cut (one of CUT_REASONS), "" when it plays whole
    cut: str = ""


#: the reasons the plan cuts a showing short, as the log's ``showing.reason`` says them
CUT_CLOSING = "cut at closing time"
CUT_DAYPART = "cut at a daypart change"
CUT_MIDNIGHT = "cut at midnight (the next day's playlists differ)"
CUT_REASONS = (CUT_CLOSING, CUT_DAYPART, CUT_MIDNIGHT)


class Wishes:
    """What one run of the timeline must avoid: the anti-fraud item shown (or planned) last,
    carried across segments, daypart changes and midnight, and items set aside until an
    instant (ms) by the runtime (a file that failed or ended early): anti-fraud items by the
    rotation, store items by the filler."""

    __slots__ = ("aside", "last")

    def __init__(self, last: str | None = None,
                 aside: Mapping[str, int] | None = None) -> None:
        self.last = last
        self.aside: Mapping[str, int] = aside or {}

    def aside_at(self, t_ms: int) -> list[str]:
        return [i for i, until in self.aside.items() if until > t_ms]


#: (this screen's position, how many screens) among the screens that play a pool on a day
GroupFn = Callable[[tuple[str, ...]], tuple[int, int]]


class DayState:
    """Rotation and filler state for one screen on one day, keyed by pool. The screens of a
    site are staggered by their index (``group`` may give another position and count per
    pool)."""

    __slots__ = ("_fillers", "_group", "_rotations", "_screen", "af_count")

    def __init__(self, screen: Screen, n_screens: int, group: GroupFn | None = None) -> None:
        self._screen = screen
        n = max(1, n_screens)
        self._group: GroupFn = group or (lambda _key: (screen.index, n))
        self._rotations: dict[tuple[str, ...], Rotation] = {}
        self._fillers: dict[tuple[str, ...], Filler] = {}
        #: anti-fraud showings planned today (the code slide's cadence)
        self.af_count = 0

    def rotation(self, pool: tuple[Item, ...]) -> Rotation:
        key = tuple(it.id for it in pool)
        r = self._rotations.get(key)
        if r is None:
            pos, n = self._group(key)
            r = self._rotations[key] = Rotation(pool, pos, n)
        return r

    def filler(self, pool: tuple[Item, ...]) -> Filler:
        key = tuple(it.id for it in pool)
        f = self._fillers.get(key)
        if f is None:
            pos, n = self._group(key)
            f = self._fillers[key] = Filler(pool, stagger(pos, n, len(pool)))
        return f


def segment_entries(seg: Segment, t0: int, state: DayState, budget_ms: int,
                    start_to_start: bool, wishes: Wishes | None = None, cut: str = CUT_CLOSING,
                    runs_on: tuple[Item, ...] = (), code_slide: Item | None = None,
                    code_every: int = 1, now: int | None = None) -> Generator[Entry, None, int]:
    """Entries of one segment from ``t0`` (an anti-fraud showing first). Returns the instant
    the last entry ends: the segment's end, or later when the last anti-fraud item is in
    ``runs_on`` (the next segment's pool, when that segment follows without a pause at
    midnight): then it plays whole rather than being cut at midnight. ``cut`` says why a
    showing cut at the segment's end is cut. ``code_slide``: the inspection code's own
    slide, right after every ``code_every``-th anti-fraud showing of the day, paid from the
    gap budget like store content (it is no anti-fraud content), and left out when the budget
    left there cannot hold it."""
    if not seg.anti_fraud:
        return seg.end_ms
    wishes = wishes if wishes is not None else Wishes()
    rot = state.rotation(seg.anti_fraud)
    filler = state.filler(seg.store) if seg.store else None
    t = t0
    end = seg.end_ms
    while end - t >= MIN_SHOWING_MS:
        af = rot.next(wishes.last, wishes.aside_at(t) if wishes.aside else ())
        wishes.last = af.id
        if now is not None and t < now:
            if t + af.duration_ms - now < min(MIN_SHOWING_MS, af.duration_ms // 2):
                t = now
            now = None
        stop = t + af.duration_ms
        if stop > end and af in runs_on:
            yield Entry(t, stop, af, True)  # midnight is no boundary for the viewer
            return stop
        if stop >= end:
            yield Entry(t, end, af, True, stop > end, cut if stop > end else "")
            return end
        yield Entry(t, stop, af, True)
        state.af_count += 1
        budget = budget_ms - af.duration_ms if start_to_start else budget_ms
        # near the segment's end, leave room for one more anti-fraud showing (at least
        # MIN_SHOWING_MS): a store run must never be the last thing before a segment ends,
        # or a contiguous next segment (midnight on a 24-hour site, a daypart change) would
        # start after a gap of budget plus the leftover
        budget = min(budget, end - stop - MIN_SHOWING_MS)
        t = stop
        if (code_slide is not None and (state.af_count - 1) % code_every == 0
                and budget >= code_slide.duration_ms):
            yield Entry(t, t + code_slide.duration_ms, code_slide, False)
            t += code_slide.duration_ms
            budget -= code_slide.duration_ms
        if filler is not None and budget > 0:
            for it in filler.fill(budget, wishes.aside_at(t) if wishes.aside else ()):
                s = t + it.duration_ms
                yield Entry(t, s, it, False)
                t = s
    return t


class Timeline:
    """One screen's timeline. ``entries(t)`` yields, from the entry in progress at ``t``,
    everything after it, across days, forever (or until MAX_CLOSED_DAYS closed days).

    ``replan(now)`` yields a fresh timeline that opens with an anti-fraud showing at ``now``
    and then continues the normal pattern, keeping the day's rotation state: the runtime calls
    it when reality departed from the plan (a late start, a failed item, a driver error)."""

    def __init__(self, site: Site, screen: Screen) -> None:
        self.site = site
        self.screen = screen
        self._budget = site.rule.budget_ms
        self._s2s = site.rule.start_to_start
        self._state_day: date | None = None
        self._state: DayState | None = None

    def _day_state(self, day: date, fresh: bool) -> DayState:
        if fresh or self._state is None or self._state_day != day:
            self._state = DayState(self.screen, len(self.site.screens))
            self._state_day = day
        return self._state

    def segments(self, day: date) -> list[Segment]:
        return day_segments(self.site, self.screen, day)

    def _days_from(self, day: date, t0: int | None, fresh: bool,
                   wishes: Wishes | None = None, now: int | None = None) -> Iterator[Entry]:
        wishes = wishes if wishes is not None else Wishes()
        closed = 0
        first = True
        carry = 0  # where the previous day's last showing ended (it may run past midnight)
        late = now  # for the first segment planned only
        segs = self.segments(day)
        while closed < MAX_CLOSED_DAYS:
            nxt_segs = self.segments(day + timedelta(days=1))
            if segs:
                closed = 0
                state = self._day_state(day, fresh or not first)
                for k, seg in enumerate(segs):
                    if t0 is not None and first:
                        if seg.end_ms <= t0:
                            continue
                        start = max(seg.start_ms, t0)
                    else:
                        start = seg.start_ms
                    start = max(start, carry)
                    if start >= seg.end_ms:
                        continue
                    follow = segs[k + 1] if k + 1 < len(segs) else (
                        nxt_segs[0] if nxt_segs else None)
                    runs_on: tuple[Item, ...] = ()
                    if follow is None or follow.start_ms != seg.end_ms:
                        why = CUT_CLOSING
                    elif k + 1 < len(segs):
                        why = CUT_DAYPART
                    else:
                        why, runs_on = CUT_MIDNIGHT, follow.anti_fraud
                    carry = yield from segment_entries(
                        seg, start, state, self._budget, self._s2s, wishes, why, runs_on,
                        self.screen.code_slide, self.screen.code_slide_every,
                        late)
                    late = None
            else:
                closed += 1
            if not (segs and nxt_segs and segs[-1].end_ms == nxt_segs[0].start_ms):
                # closed at this midnight: the next day's plan starts afresh, a pure function
                # of the site and that day (so `entries` resumes it exactly); only a midnight
                # the site is open across carries the last item and a showing running on
                wishes.last = None
            first = False
            day = day + timedelta(days=1)
            segs = nxt_segs

    def entries(self, t_ms: int) -> Iterator[Entry]:
        """The plan as it stands from the day's opening, from the entry in progress at t."""
        day = local_date(t_ms, self.site.tz)
        for e in self._days_from(day, None, fresh=True):
            if e.end_ms > t_ms:
                yield e

    def due_ms(self, last_af: tuple[int, int] | None) -> int | None:
        """The instant the plan has the next anti-fraud showing start at the latest, given
        the planned (start, end) of the last one: its end (start in start-to-start mode)
        plus the gap budget; None without one."""
        if last_af is None:
            return None
        return (last_af[0] if self._s2s else last_af[1]) + self._budget

    def replan(self, now_ms: int, last: str | None = None,
               aside: Mapping[str, int] | None = None,
               last_af: tuple[int, int] | None = None) -> Iterator[Entry]:
        """Re-plan from ``now``: an anti-fraud showing at once (inside a segment), then normal.

        ``last`` is the anti-fraud item last shown on the screen: it does not come again at
        once. ``aside`` maps item ids to the instant (ms) until which they are skipped while
        the pool has another item. ``last_af``: the planned (start, end) of the anti-fraud
        showing last begun on the screen. The gap budget counts from it (its end, or its
        start in start-to-start mode), not from ``now``: a re-plan that runs after the next
        anti-fraud showing was due (a loaded machine, late to the switch) is anchored where
        it was due, so the plan keeps the budget whatever the lateness; the showing starts
        at once, late, and is shortened by that like any late switch. Only when less than
        MIN_SHOWING_MS (or half of a shorter item) of it would be left at ``now`` does it
        start at ``now`` (see segment_entries)."""
        due = self.due_ms(last_af)
        t0 = now_ms if due is None else min(now_ms, due)
        day = local_date(t0, self.site.tz)
        return self._days_from(day, t0, fresh=self._state_day != day,
                               wishes=Wishes(last, aside), now=now_ms)

