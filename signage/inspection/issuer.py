"""The box side of the inspection code: each screen's figures of the day, and the signed code
attached to its anti-fraud showings.

``DayStats`` is pure (walls in, figures out; locked: a code may be made on another thread).
``CodeSource`` is called by the screen runners (each from its own thread, each touching only
its own screen's state) and by ``warm``'s thread: ``attach`` gives an anti-fraud Showable the
screen's current code, made at most ``MAX_AGE_S`` before the instant it is for, and
``refresh_at`` tells the runner when to make it again (every ``REFRESH_S``), so that a code is
fresh whenever a showing starts, planned or not, without ever signing or drawing in the
switch itself.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ..config import Hours, InspectionSection
from ..driver import Clock, InspectionCode, Showable
from ..keys import SigningKey
from ..model import CODE_SLIDE_ID, Site
from ..timeutil import local_ms
from .picture import qr_modules
from .statement import HEAD_LEN, SignedStatement, Statement, sign

#: a code is made at most this long before the start it is shown at (the contract: <= 60 s)
MAX_AGE_S = 50.0
#: how long before an anti-fraud start a stale prepared code is made again
LEAD_S = 3.0
#: a screen's code is made again (between switches) when it is older than this
REFRESH_S = 30.0
#: the side of the code on its own slide, as a fraction of the screen height
SLIDE_CODE_SIZE = 0.6


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
        self._lock = threading.Lock()  # fed by the runner, read by a code made elsewhere

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
        with self._lock:
            self._af_started(site, wall)

    def _af_started(self, site: Site, wall: float) -> None:
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
        with self._lock:
            self._af_on = False
            if not site.rule.start_to_start:
                self._ref = wall

    def closed(self) -> None:
        with self._lock:
            self._ref = None
            self._af_on = False
            self._closed = True

    def snapshot(self, site: Site, wall: float) -> tuple[int, int, bool]:
        """(showings today, worst gap today in ms, partial) at ``wall``."""
        with self._lock:
            self._roll(site, wall)
            return self.count, round(self.worst_s * 1000), self.partial


@dataclasses.dataclass(frozen=True, slots=True)
class _Made:
    code: InspectionCode
    made_mono: float


class CodeSource:
    """The signed codes of a site's screens: one current code per screen (a statement about
    the screen, not about an item), made by the screen's runner between switches when it
    prepares a planned anti-fraud showing and at least every ``REFRESH_S``, and by ``warm``'s
    thread for the first showings after a start. Any anti-fraud showing (planned,
    substitute, alert, clip) takes the screen's current code when it is at most
    ``MAX_AGE_S`` old at its start; the switch never signs or draws (``make`` False), so a
    showing without a fresh code goes without one."""

    def __init__(self, cfg: InspectionSection, key: Callable[[], SigningKey], clock: Clock,
                 head: Callable[[], tuple[int, str]]) -> None:
        self.cfg = cfg
        self.key = key
        self.clock = clock
        self._head = head
        self._stats: dict[str, DayStats] = {}
        self._made: dict[str, _Made] = {}
        self._for: dict[str, tuple[str, float]] = {}  # the planned showing a code was made for
        self._lock = threading.RLock()  # the runners' threads and warm()'s
        self.issued = 0

    def stats(self, screen_id: str) -> DayStats:
        with self._lock:
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

    def make(self, site: Site, screen_id: str) -> InspectionCode:
        """A new code for ``screen_id`` (signature + QR symbol, ~2 ms), kept as its current
        one."""
        now = self.clock.monotonic()
        text = self.statement(site, screen_id).url(self.cfg.hub_url)
        code = InspectionCode(text, qr_modules(text), self.cfg.position, self.cfg.size, now)
        with self._lock:
            old = self._made.get(screen_id)
            if old is None or old.made_mono <= now:
                self._made[screen_id] = _Made(code, now)
            self.issued += 1
        return code

    def current(self, screen_id: str, for_mono: float) -> InspectionCode | None:
        """The screen's current code if it is at most MAX_AGE_S old at ``for_mono``."""
        with self._lock:
            made = self._made.get(screen_id)
        if made is None or made.made_mono < for_mono - MAX_AGE_S:
            return None
        return made.code

    def made_at(self, screen_id: str) -> float | None:
        with self._lock:
            made = self._made.get(screen_id)
        return None if made is None else made.made_mono

    def wants_code(self, screen_id: str) -> bool:
        """Cadence: a code on every ``every``-th anti-fraud showing (counted today)."""
        return self.stats(screen_id).count % self.cfg.every == 0

    def attach(self, site: Site, screen_id: str, s: Showable, for_mono: float,
               make: bool = True) -> Showable:
        """``s`` with the screen's code, made at most MAX_AGE_S before ``for_mono`` (the
        instant it will be on screen). ``make`` (ahead of a switch, never in it): a new code
        for each planned anti-fraud showing, and whenever the current one is missing, too old
        for ``for_mono`` or older than REFRESH_S."""
        slide = s.item_id == CODE_SLIDE_ID  # the code's own slide ([inspection] mode)
        wants = slide or (self.cfg.mode == "corner" and s.anti_fraud
                          and self.wants_code(screen_id))
        if make:
            made = self.made_at(screen_id)
            now = self.clock.monotonic()
            due = made is None or made < now - REFRESH_S or made < for_mono - MAX_AGE_S
            target = (s.item_id, for_mono)
            if wants and self._for.get(screen_id) != target:
                due = True  # each planned anti-fraud showing: a code of its own
            if due:
                self.make(site, screen_id)
                if wants:
                    self._for[screen_id] = target
        if not wants:
            return s
        code = self.current(screen_id, for_mono)
        if code is not None and slide:
            code = dataclasses.replace(code, position="bottom-center", size=SLIDE_CODE_SIZE)
        return s if code is None else dataclasses.replace(s, code=code)

    def refresh_at(self, screen_id: str) -> float:
        """When the screen's code is due to be made again (-inf: none yet)."""
        made = self.made_at(screen_id)
        return float("-inf") if made is None else made + REFRESH_S

    def warm(self, site: Site, screen_ids: list[str]) -> threading.Thread:
        """Make each screen's first code on a thread of its own, so that the first showings
        after a start carry one without the switch waiting for it (a showing that comes
        before it is ready goes without)."""
        def run() -> None:
            for sid in screen_ids:
                if self.made_at(sid) is None:
                    try:
                        self.make(site, sid)
                    except Exception:  # noqa: S112 - a runner's refresh tries again
                        continue

        t = threading.Thread(target=run, name="inspection-codes", daemon=True)
        t.start()
        return t


__all__ = ["LEAD_S", "MAX_AGE_S", "REFRESH_S", "CodeSource", "DayStats"]
