"""The box side of the inspection code: each screen's figures of the day, and the signed code
attached to its anti-fraud items.

``DayStats`` is pure (walls in, figures out). ``CodeSource`` is called by the screen runners
(each from its own thread, each touching only its own screen's state): ``attach`` gives an
anti-fraud Showable its code, made at most ``MAX_AGE_S`` before the instant it is for, and
``refresh_at`` tells the runner when to prepare again so that a code is never older than that
when its showing starts, without ever signing or drawing in the switch itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ..alerts import ALERT_CATEGORY
from ..config import Hours, InspectionSection
from ..driver import Clock, InspectionCode, Showable
from ..keys import SigningKey
from ..model import Site
from ..timeutil import local_ms
from .picture import qr_modules
from .statement import HEAD_LEN, SignedStatement, Statement, sign

#: a code is made at most this long before the start it is shown at (the contract: <= 60 s)
MAX_AGE_S = 50.0
#: how long before an anti-fraud start a stale prepared code is made again
LEAD_S = 3.0


def _open_span_start(hours: Hours, tz: ZoneInfo, wall: float) -> float | None:
    """Start (Unix seconds) of the open span holding ``wall``, or None when closed."""
    day = datetime.fromtimestamp(wall, tz).date()
    ms = wall * 1000
    for a, b in hours.spans_for(day):
        s0, s1 = local_ms(day, a, tz), local_ms(day, b, tz)
        if s0 <= ms < s1:
            return s0 / 1000
    return None


class DayStats:
    """One screen's anti-fraud showings today and the worst gap today in open time, fed with
    the runner's events (confirmed starts, ends, closings). Gaps are measured as the rule's
    ``measure`` says: end-to-start or start-to-start."""

    def __init__(self, started_wall: float) -> None:
        self._started = started_wall
        self.day: date | None = None
        self.count = 0
        self.worst_s = 0.0
        self.partial = True
        self._ref: float | None = None
        self._af_on = False
        self._closed = False  # a closing was seen: the next gap starts at the opening

    def _roll(self, site: Site, wall: float) -> None:
        day = datetime.fromtimestamp(wall, site.tz).date()
        if day != self.day:
            if self.day is not None:
                self.partial = False
            else:  # first day of this run: partial unless started before the first opening
                spans = site.hours.spans_for(day)
                first = local_ms(day, spans[0][0], site.tz) / 1000 if spans else None
                self.partial = first is not None and self._started > first
            self.day = day
            self.count = 0
            self.worst_s = 0.0

    def af_started(self, site: Site, wall: float) -> None:
        self._roll(site, wall)
        if not self._af_on:
            ref = self._ref
            if ref is None and self._closed:
                ref = _open_span_start(site.hours, site.tz, wall)
            if ref is not None:
                self.worst_s = max(self.worst_s, wall - ref)
        self.count += 1
        self._af_on = True
        if site.rule.start_to_start:
            self._ref = wall

    def af_ended(self, site: Site, wall: float) -> None:
        self._af_on = False
        if not site.rule.start_to_start:
            self._ref = wall

    def closed(self) -> None:
        self._ref = None
        self._af_on = False
        self._closed = True

    def snapshot(self, site: Site, wall: float) -> tuple[int, int, bool]:
        """(showings today, worst gap today in ms, partial) at ``wall``."""
        self._roll(site, wall)
        return self.count, round(self.worst_s * 1000), self.partial


@dataclasses.dataclass(slots=True)
class _Made:
    item_id: str
    showable: Showable
    made_mono: float


class CodeSource:
    def __init__(self, cfg: InspectionSection, key: Callable[[], SigningKey], clock: Clock,
                 head: Callable[[], tuple[int, str]]) -> None:
        self.cfg = cfg
        self.key = key
        self.clock = clock
        self._head = head
        self._stats: dict[str, DayStats] = {}
        self._made: dict[str, _Made] = {}
        self.issued = 0

    def stats(self, screen_id: str) -> DayStats:
        st = self._stats.get(screen_id)
        if st is None:
            st = self._stats[screen_id] = DayStats(self.clock.time())
        return st

    def statement(self, site: Site, screen_id: str) -> SignedStatement:
        """A signed statement about ``screen_id`` now."""
        wall = self.clock.time()
        count, worst_ms, partial = self.stats(screen_id).snapshot(site, wall)
        seq, mac = self._head()
        head = bytes.fromhex(mac)[:HEAD_LEN] if len(mac) >= 2 * HEAD_LEN else bytes(HEAD_LEN)
        key = self.key()
        st = Statement(site.id, screen_id, int(wall),
                       _open_span_start(site.hours, site.tz, wall) is not None,
                       min(count, 2**32 - 1), min(worst_ms, 2**32 - 1), max(0, seq), head,
                       key.key_id, partial)
        return sign(st, key)

    def wants_code(self, screen_id: str) -> bool:
        """Cadence: a code on every ``every``-th anti-fraud showing (counted today)."""
        return self.stats(screen_id).count % self.cfg.every == 0

    def attach(self, site: Site, screen_id: str, s: Showable, for_mono: float,
               make: bool = True) -> Showable:
        """``s`` with a code made at most MAX_AGE_S before ``for_mono`` (the instant it will
        be on screen): the one made for this item last time if fresh enough, else a new one
        (``make``; the switch itself passes False: it never signs or draws, and an item that
        was not prepared, e.g. the first after a start or a substitute, goes without code)."""
        if not s.anti_fraud or s.category == ALERT_CATEGORY or not self.wants_code(screen_id):
            return s  # an urgent alert's slide is laid out on its own: no code on it
        made = self._made.get(screen_id)
        if (made is not None and made.item_id == s.item_id
                and made.made_mono >= for_mono - MAX_AGE_S):
            return made.showable
        if not make:
            return s
        now = self.clock.monotonic()
        signed = self.statement(site, screen_id)
        text = signed.url(self.cfg.hub_url)
        code = InspectionCode(text, qr_modules(text), self.cfg.position, self.cfg.size, now)
        out = dataclasses.replace(s, code=code)
        self._made[screen_id] = _Made(s.item_id, out, now)
        self.issued += 1
        return out

    def refresh_at(self, screen_id: str, item_id: str, start_mono: float) -> float:
        """When the runner should prepare ``item_id`` again so that its code is fresh at
        ``start_mono`` (inf: no need)."""
        made = self._made.get(screen_id)
        if made is not None and made.item_id == item_id and \
                made.made_mono >= start_mono - MAX_AGE_S:
            return float("inf")
        return start_mono - LEAD_S


__all__ = ["LEAD_S", "MAX_AGE_S", "CodeSource", "DayStats"]
