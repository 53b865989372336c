"""One screen's runner: executes the timeline against the driver, guards the gap, logs.

Event-driven so that one code path serves both clocks: ``wake_at()`` says when the runner has
something to do, ``act()`` does it. The real runtime calls them from one thread per screen
(a slow driver delays only its own screen); ``signage simulate`` calls them from a single
discrete-event loop on a virtual clock.

The gap guard, in order of defence:
1. the planner never plans a gap over ``max_gap - margin``;
2. every switch happens at its planned instant (minus the driver's switch latency), so
   lateness never accumulates; a late start only shortens that showing;
3. no store item starts if its planned end would push the next anti-fraud showing past
   ``max_gap - guard`` measured from the last real anti-fraud showing: an anti-fraud item
   plays instead and the timeline is re-planned from now (every re-plan counts the gap
   budget from the last anti-fraud showing's planned instants: a late one keeps the plan
   within the budget, see Timeline.replan);
4. a rejected anti-fraud item is replaced at once by the next one in rotation, and finally by
   a text slogan (never a file that can be missing);
5. an unavailable screen is retried with exponential backoff; down and up are logged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..alerts.choice import AlertCard, ScreenMemory, at_switch, cut_now
from ..driver import (
    ContentRejected,
    Driver,
    Health,
    ItemKind,
    ScreenUnavailable,
    Showable,
)
from ..i18n import _
from ..model import Item, Screen, Site
from ..plan import Entry, Timeline
from ..timeutil import local_date
from .availability import Availability
from .clockmap import ClockMap
from .credit import Answer, Claim
from .errstats import StartErrors
from .guard import would_break
from .records import OnScreen, Sink, WorstGap, open_hours, settle, showing_fields

if TYPE_CHECKING:  # imported by the daemon only when [inspection] is on (zxing-cpp, PIL)
    from .codes import CodeHook

#: the built-in last resort, used only when a screen has no anti-fraud text item of its own
LAST_RESORT_TEXT = "防范电信诈骗，人人参与，家家受益"
CLIP_POLL_S = 0.1
#: how often a screen's health is checked between switches (real time only): a player that
#: dies mid-item is noticed within this, and its showing ends at the last healthy check
HEALTH_POLL_S = 1.0
#: a pause between two planned entries shorter than this is not a closing: the screen keeps
#: what it shows (midnight on a 24-hour site, a daypart change) rather than going blank
HOLE_S = 2.0
#: an item that failed or ended early is skipped this long while its pool has another item
ASIDE_S = 300.0
#: how often a screen looks for a new alert between switches (real time only), while it
#: has any alert card or shows one: with none, a new alert wakes the thread itself
ALERT_POLL_S = 0.5


class AlertSource(Protocol):
    """The daemon's alerts (signage/runtime/alertfeed.py), as one screen sees them."""

    #: False while no authority key is configured: nothing can arrive, nothing to look at
    enabled: bool

    def cards(self, screen_id: str, now: float) -> Sequence[AlertCard]: ...
    def pending(self, screen_id: str) -> bool:
        """True while ``screen_id`` has any alert card, live now or later (its effective
        time not reached yet). False: a new card comes only with a change of the alerts,
        which wakes the screen's thread (the daemon's waker event), so the runner does not
        look every ALERT_POLL_S."""
        ...
    def shown(self, screen_id: str, card: AlertCard, start: float) -> None: ...


class ScreenRunner:
    def __init__(self, site: Site, screen: Screen, driver: Driver, log: Sink,
                 showable: Callable[[Item], Showable], *, guard_s: float = 1.0,
                 poll_clips: bool = True, iso: Callable[[float], str],
                 live: bool = False, alerts: AlertSource | None = None) -> None:
        self.site = site
        self.screen = screen
        self.driver = driver
        self.log = log
        self.clock = driver.ctx.clock
        self._showable = showable
        self._guard = guard_s
        self._poll = poll_clips
        # a driver that keeps the default poll_end (its items never end by themselves: the
        # simulator, the LED board) is not polled every CLIP_POLL_S: that poll only woke the
        # screen's thread ten times a second for an answer that is always None
        self._clips_end = type(driver).poll_end is not Driver.poll_end
        self._iso = iso
        # whole milliseconds (the plan's instants) without float arithmetic, when given
        self._iso_ms: Callable[[int], str] = getattr(iso, "ms", lambda ms: iso(ms / 1000))
        self._live = live  # keep next_af_ms up to date for the live table
        self.timeline = Timeline(site, screen)
        self._hours = open_hours(site, screen)
        self._it: Iterator[Entry] = iter(())
        self._ahead: list[Entry] = []
        self.next: Entry | None = None
        self.next_af_ms: int | None = None
        self.on: OnScreen | None = None
        self._avail = Availability()
        self._af_on = False
        self._af_ref: float | None = None  # mono: end (e2s) or start (s2s) of last AF showing
        self._worst = WorstGap()
        self._pending_site: tuple[Site, Screen] | None = None
        self.shown = 0
        self._last_af: str | None = None  # the anti-fraud item shown last on this screen
        #: the planned (start, end) wall ms of the anti-fraud showing begun last: a re-plan
        #: counts the gap budget from it, not from when it runs (Timeline.replan)
        self._af_span: tuple[int, int] | None = None
        self._aside: dict[str, int] = {}  # item id -> wall ms until which it is set aside
        self.start_errors = StartErrors()
        self._map = ClockMap()
        # the map's conversions, bound once (the hot path calls them several times a switch)
        self._mono_of = self._map.mono_of
        self._wall_of = self._map.wall_of
        self._map_sync = self._map.sync
        self._synced_at = (float("nan"), float("nan"))  # the clock readings last synced
        self._sync()
        self._last_ok = self.clock.monotonic()  # last instant the screen was known to be up
        # what the item now on screen may claim (signage/runtime/credit.py decides)
        self._claim: Claim | None = None
        #: the inspection code on anti-fraud items (None: codes off); see runtime/codes.py
        self.codes: CodeHook | None = None
        self._alerts = alerts
        self._amem = ScreenMemory.empty()  # what alerts this screen showed (choice.py)
        self._alert_on: AlertCard | None = None
        self._alert_drawn: set[Item] = set()  # alert items prepared on this screen

    # ---- time mapping --------------------------------------------------------------------
    def _sync(self) -> None:
        """Read the wall-minus-monotonic offset once per wake-up; a wall-clock step makes the
        next act() re-plan from now (signage/runtime/clockmap.py)."""
        clock = self.clock
        mono, wall = clock.monotonic(), clock.time()
        if mono != self._synced_at[0] or wall != self._synced_at[1]:
            # the same readings again (act, its switch and the next wake_at at one instant
            # of a virtual clock) would leave the map as it is: skip the call
            self._synced_at = (mono, wall)
            self._map_sync(mono, wall)

    def _now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    # ---- availability and the day's worst gap, for the live view and the daemon ---------
    @property
    def up(self) -> bool:
        return self._avail.up

    @property
    def down_since(self) -> float | None:
        return self._avail.down_since

    @property
    def worst_gap_today(self) -> float:
        return self._worst.worst

    # ---- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Open the driver and pick up the plan from now."""
        self._sync()
        self._try_open(first=True)
        if self.up:
            self._replan(fresh=True)
            self._prepare_first()

    def _prepare_first(self) -> None:
        """After an (re)open, before the first switch: with codes on, the screen's code is
        made and the first showing drawn with it now, so that the first anti-fraud showing
        carries a code whatever thread made (or did not yet make) the first codes. A start
        is not a switch: this costs the start a signature (~2 ms) and a drawing the switch
        would otherwise do."""
        if self.codes is not None:
            self._prepare_next()

    def _advance(self) -> None:
        self.next = self._ahead.pop(0) if self._ahead else next(self._it, None)

    def _look_ahead(self) -> None:
        """Planned start of the next anti-fraud showing (for the live view), peeking up to
        a few dozen entries ahead without consuming them."""
        nxt = self.next
        if nxt is None or nxt.anti_fraud:
            self.next_af_ms = nxt.start_ms if nxt is not None else None
            return
        for e in self._ahead:
            if e.anti_fraud:
                self.next_af_ms = e.start_ms
                return
        while len(self._ahead) < 64:
            got = next(self._it, None)
            if got is None:
                break
            self._ahead.append(got)
            if got.anti_fraud:
                self.next_af_ms = got.start_ms
                return
        self.next_af_ms = None

    def _replan(self, fresh: bool = False, anchored: bool = True) -> None:
        """``anchored``: the new plan counts the gap budget from the last anti-fraud
        showing's planned instants, so a re-plan that runs late keeps the plan within the
        budget; False after an outage or a wall-clock step, when the plan is from now."""
        now = self._now_ms()
        if not anchored:
            self._af_span = None  # the plan before no longer counts: from now on
        self._aside = {i: u for i, u in self._aside.items() if u > now}
        self._it = (self.timeline.entries(now) if fresh
                    else self.timeline.replan(now, self._last_af, self._aside,
                                              self._af_span if anchored else None))
        self._ahead = []
        self._advance()
        if fresh and self.next is not None and self.next.start_ms < now:
            # joining mid-item: put an anti-fraud item up now, then follow the plan
            self._it = self.timeline.replan(now, self._last_af, self._aside)
            self._ahead = []
            self._advance()

    def _set_aside(self, item: Item, why: str) -> None:
        """A failed or early-ended item, anti-fraud or store: the plan moves on without it
        for ASIDE_S (the rotation, the store filler), and the log says so and why."""
        until = self._now_ms() + int(ASIDE_S * 1000)
        self._aside[item.id] = until
        self.log.append("item_aside", screen=self.screen.id, item=item.id,
                        anti_fraud=item.anti_fraud, until=self._iso(until / 1000),
                        reason=why[:200])

    def apply_site(self, site: Site, screen: Screen) -> None:
        """A reload: takes effect at the next item boundary."""
        self._pending_site = (site, screen)

    # ---- scheduling ----------------------------------------------------------------------
    def wake_at(self) -> float:
        self._sync()
        if not self._avail.up:
            return self._avail.retry_at
        nxt = self.next
        on = self.on
        t = float("inf")
        if nxt is not None:
            t_next = self._mono_of(nxt.start_ms)
            if on is not None and on.planned_end_mono < t_next - HOLE_S:
                t = on.planned_end_mono  # a hole after this showing: clear at its end
            else:
                t = t_next - self.driver.switch_latency_s
        elif on is not None:
            t = on.planned_end_mono
        if self._poll:  # real time: look again at least every second (health, clock steps)
            now = self.clock.monotonic()
            if on is not None and on.item.kind is ItemKind.CLIP and self._clips_end:
                t = min(t, now + CLIP_POLL_S)
            t = min(t, max(now, self._last_ok) + HEALTH_POLL_S)
            if (self._alerts is not None and on is not None and self._alerts.enabled
                    and (self._alert_on is not None or self._alerts.pending(self.screen.id))):
                t = min(t, now + ALERT_POLL_S)
        if self.codes is not None and nxt is not None:
            t = min(t, self.codes.refresh_at(nxt, self._mono_of(nxt.start_ms)))
        if self._map.stepped:
            t = self.clock.monotonic()
        return t

    def act(self) -> None:
        self._sync()
        now = self.clock.monotonic()
        up = self._avail.up
        if self._map.stepped and up:
            self._map.stepped = False
            self._replan(anchored=False)  # an anti-fraud showing now, on the new wall time
            self._switch_due()
            return
        if not up:
            if now >= self._avail.retry_at:
                self._try_open(first=False)
                if self.up:
                    self._replan(anchored=False)
                    self._prepare_first()
            return
        on = self.on
        if self._poll and on is not None and now >= self._last_ok + HEALTH_POLL_S:
            latency = self.driver.switch_latency_s
            self.driver.last_attempts = 1
            health = self.driver.health()
            if not health.ok:
                self.log.append("driver_error", screen=self.screen.id, item=on.item.id,
                                error="unavailable", message=health.detail[:500])
                self._go_down(health.detail or "unhealthy")
                return
            self._last_ok = now  # paces the polls: the next one a second from this check
            self._vouched(health, now, latency)
        if (self._poll and self._clips_end and on is not None
                and on.item.kind is ItemKind.CLIP):
            ended = self.driver.poll_end()
            if ended is not None and ended < on.planned_end_mono - 0.2:
                self._set_aside(on.item, "ended early (end of file)")
                self._end_showing(ended, "cut_short", "ended early (end of file)")
                self._replan()
                self._switch_due()
                return
        if (self._alerts is not None and on is not None and self._alerts.enabled
                and self._alert_cut(now)):
            return
        nxt = self.next
        if nxt is None:
            if on is not None and now >= on.planned_end_mono:
                self._clear(now, "end of plan")
            return
        t_next = self._mono_of(nxt.start_ms)
        if on is not None and on.planned_end_mono < t_next - HOLE_S:
            if now >= on.planned_end_mono:
                self._clear(now, "closed")
            return
        if now >= t_next - self.driver.switch_latency_s - 0.0005:
            self._switch_due()
        elif self.codes is not None and now >= self.codes.refresh_at(nxt, t_next):
            self._prepare_next()  # a fresh code, drawn ahead of the switch

    # ---- the switch ----------------------------------------------------------------------
    def _switch_due(self) -> None:
        if self._pending_site is not None:
            self.site, self.screen = self._pending_site
            self._pending_site = None
            self.timeline = Timeline(self.site, self.screen)
            self._hours = open_hours(self.site, self.screen)
            self._replan()
        entry = self.next
        now = self.clock.monotonic()
        w2m = self._map.w2m  # ClockMap.mono_of, inline (nothing below syncs the map)
        while entry is not None and entry.end_ms / 1000.0 + w2m <= now + 0.05:
            self._advance()  # already over (we were blocked): skip; the guard covers gaps
            entry = self.next
        if entry is None:
            return
        if self._alerts is not None and self._alerts.enabled and self._try_alert():
            return
        if not entry.anti_fraud and self._would_break(entry, now):
            self._replan()  # an anti-fraud item now instead
            entry = self.next
            if entry is None:
                return
        t_entry = entry.start_ms / 1000.0 + w2m
        if t_entry - self.driver.switch_latency_s > now + 0.5:
            # not due: a re-plan found nothing open now (a reload that closes today, the last
            # moment of a day). Closed means blank, never the next opening's item held early.
            if t_entry > now + HOLE_S:
                self._clear(now, "closed")
            return
        self._show(entry)
        self._amem.regular()

    # ---- alerts (the choice is signage/alerts/choice.py) ----------------------------------
    def _alert_cut(self, now: float) -> bool:
        """Between switches: a new alert cuts a regular item; an alert on screen that ended
        (expired, cancelled, superseded) is cut. True when the runner switched."""
        assert self._alerts is not None
        cards = self._alerts.cards(self.screen.id, self.clock.time())
        on = self._alert_on
        nxt = self.next
        t_next = self._mono_of(nxt.start_ms) if nxt is not None else float("inf")
        if not cut_now([c.cand for c in cards], self._amem, now, on is not None,
                       None if on is None else on.cand.key, t_next):
            self._prepare_alerts(cards)
            return False
        if on is None and self._try_alert():
            return True
        self._replan()  # the alert on ended: an anti-fraud showing now, then the plan
        self._switch_due()
        return True

    def _prepare_alerts(self, cards: Sequence[AlertCard]) -> None:
        """Draw each new alert's slide ahead, while it waits for its slot (an alert on
        screen finishes first), so its switch only has to switch."""
        for c in cards:
            if c.item not in self._alert_drawn:
                self._alert_drawn.add(c.item)
                try:
                    self.driver.prepare(self._showable(c.item))
                except Exception:  # prepare is a hint; show() reports real errors
                    pass
        if len(self._alert_drawn) > 64:
            self._alert_drawn = {c.item for c in cards}

    def _segment(self, now_ms: int) -> tuple[int, int] | None:
        for seg in self.timeline.segments(local_date(now_ms, self.site.tz)):
            if seg.start_ms <= now_ms < seg.end_ms:
                return seg.start_ms, seg.end_ms
        return None

    def _try_alert(self) -> bool:
        """At a switch: show the alert the choice rule picks, if any. An alert showing ends
        by its duration, its expiry or the end of the open segment, whichever is first; the
        plan then resumes from its end with an anti-fraud showing."""
        assert self._alerts is not None
        now_ms = self._now_ms()
        seg = self._segment(now_ms)
        if seg is None:
            return False  # closed: no alert on a blank screen
        seg_end = seg[1]
        cards = self._alerts.cards(self.screen.id, now_ms / 1000)
        got = at_switch([c.cand for c in cards], self._amem, now_ms / 1000)
        card = next((c for c in cards if c.cand == got), None)
        if card is None:
            return False
        end = min(now_ms + card.item.duration_ms, seg_end, int(card.expires * 1000))
        if end - now_ms < 1000:
            return False
        self._amem.shown(card.cand.key, now_ms / 1000)  # tried: a rejection waits its cadence
        # planned where the next anti-fraud showing was due when the switch runs late (the
        # alert is one), like a late re-plan: the plan keeps the budget (Timeline.replan)
        due = self.timeline.due_ms(self._af_span)
        start = now_ms if due is None else max(min(now_ms, due), seg[0])
        self._show(Entry(start, end, card.item, True))
        on = self.on
        if on is not None and on.item is card.item:
            self._alert_on = card
            self._alerts.shown(self.screen.id, card, on.start_wall)
            self._it = self.timeline.replan(end, self._last_af, self._aside)
            self._ahead = []
            self._advance()
            if self._live:
                self._look_ahead()
        return True

    def _would_break(self, entry: Entry, now: float) -> bool:
        rule = self.site.rule
        return would_break(self._af_ref, self._af_on, now, self._mono_of(entry.end_ms),
                           rule.max_gap_ms, self._guard, rule.start_to_start)

    def _show(self, entry: Entry) -> None:
        tried: set[str] = set()
        driver, clock = self.driver, self.clock
        latency = driver.switch_latency_s
        while True:
            item = entry.item
            asked = clock.monotonic()
            driver.last_attempts = 1
            try:
                showable = self._showable(item)
                if self.codes is not None:
                    showable = self.codes.attach(self.site, showable, clock.monotonic(), False)
                t_conf = driver.show(showable)
                break
            except ScreenUnavailable as exc:
                self.log.append("driver_error", screen=self.screen.id, item=item.id,
                                error="unavailable", message=str(exc)[:500])
                self._go_down(str(exc))
                return
            except Exception as exc:  # ContentRejected, or anything else a
                # driver raised (a decompression bomb, a plugin's bug): a rejection of this
                # item for the gap guard, so that a substitute is tried at once
                now = self.clock.monotonic()
                msg = str(exc) if isinstance(exc, ContentRejected) else (
                    f"{type(exc).__name__}: {exc}")
                self.log.append("driver_error", screen=self.screen.id, item=item.id,
                                error="rejected", message=msg[:500])
                self.log.append("showing", **self._showing_fields(
                    item, entry.start_ms, now, now, "failed", msg[:200]))
                tried.add(item.id)
                self._set_aside(item, msg)
                sub = self._substitute(tried)
                if sub is None:
                    self._go_down(_("every anti-fraud item was rejected: {error}").format(
                        error=msg))
                    return
                entry = sub
        self._sync()
        conf = Answer(asked, t_conf, driver.last_attempts)
        self._last_ok = t_conf
        w2m = self._map.w2m  # ClockMap.mono_of, inline
        t_start, t_end = entry.start_ms / 1000.0 + w2m, entry.end_ms / 1000.0 + w2m
        self.start_errors.add(t_conf - t_start)
        claim = self._claim
        if self.on is not None and claim is not None:
            # the item replaced: credited up to the new confirmation only when that came
            # promptly, and never past its planned end unless proven (signage/runtime/credit.py)
            self._end_showing(claim.replaced(conf, latency), None,
                              claim.why_short(conf, latency))
        self._claim = Claim.confirmed(conf, t_end)
        self._begin(entry, t_conf, t_start, t_end)
        self._advance()
        if self._live:
            self._look_ahead()
        self._prepare_next()

    def _prepare_next(self) -> None:
        nxt = self.next
        if nxt is not None:
            try:
                showable = self._showable(nxt.item)
                if self.codes is not None:
                    showable = self.codes.attach(self.site, showable,
                                                 self._mono_of(nxt.start_ms), True)
                self.driver.prepare(showable)
            except Exception:  # prepare is a hint; show() reports real errors
                pass

    def _substitute(self, tried: set[str]) -> Entry | None:
        """An anti-fraud entry from now with an item not yet tried in this switch: the
        rotation's next items first, then any text slogan, then the built-in slogan."""
        pool = [it for p in self.screen.playlists if p.anti_fraud for it in p.items]
        for _attempt in range(len(pool)):
            self._replan()
            cand = self.next
            if cand is not None and cand.anti_fraud and cand.item.id not in tried:
                return cand
        now = self._now_ms()
        for it in pool:
            if it.kind is ItemKind.TEXT and it.id not in tried:
                return Entry(now, now + it.duration_ms, it, True)
        if "builtin-theme" not in tried:
            it = Item("builtin-theme", "builtin", ItemKind.TEXT, True, 1.0, 8000,
                      text=LAST_RESORT_TEXT, category="主题")
            return Entry(now, now + it.duration_ms, it, True)
        return None

    def _begin(self, entry: Entry, t_conf: float, t_start: float, t_end: float) -> None:
        """``t_start``, ``t_end``: the entry's planned start and end on the monotonic clock."""
        item = entry.item
        wall = self._wall_of(t_conf)
        planned_iso = self._iso_ms(entry.start_ms)
        start_iso = self._iso(wall)
        start_r = round(t_conf, 3)  # rounded once: this record and the showing's at its end
        self.on = OnScreen(item, entry.start_ms, t_end, t_conf, wall, planned_iso, start_iso,
                           entry.cut, start_r)
        self.shown += 1
        if item.anti_fraud:
            self._last_af = item.id
            self._af_span = (entry.start_ms, entry.end_ms)
            if self.codes is not None:
                self.codes.stats.af_started(self.site, wall)
            if not self._af_on:
                self._note_gap(t_conf)
            self._af_on = True
            if self.site.rule.start_to_start:
                self._af_ref = t_conf
        self.log.append_dict("showing_start", {
            "screen": self.screen.id, "item": item.id, "anti_fraud": item.anti_fraud,
            "planned": planned_iso, "planned_mono": round(t_start, 3), "start": start_iso,
            "start_mono": start_r})

    def _note_gap(self, t: float) -> None:
        ref = None if self._af_ref is None else self._wall_of(self._af_ref)
        self._worst.note(self._hours, self.site.tz, ref, self._wall_of(t))

    def _end_showing(self, t_end: float, outcome: str | None, reason: str) -> None:
        on = self.on
        if on is None:
            return
        outcome, reason = settle(on, t_end, outcome, reason)
        self.log.append_dict("showing", showing_fields(
            self.screen.id, on.item, on.planned_iso, on.start_iso,
            self._iso(self._wall_of(t_end)), on.start_mono_r, t_end, outcome, reason))
        if on.item.anti_fraud:
            if self.codes is not None:
                self.codes.stats.af_ended(self.site, self._wall_of(t_end))
            self._af_on = False
            if not self.site.rule.start_to_start:
                self._af_ref = t_end
        self.on = None
        self._claim = None
        self._alert_on = None

    def _showing_fields(self, item: Item, planned_ms: int, start: float, end: float,
                        outcome: str, reason: str, planned_iso: str | None = None,
                        start_iso: str | None = None) -> dict[str, Any]:
        return showing_fields(self.screen.id, item,
                              planned_iso or self._iso(planned_ms / 1000),
                              start_iso or self._iso(self._wall_of(start)),
                              self._iso(self._wall_of(end)), round(start, 3), end, outcome,
                              reason)

    def _clear(self, now: float, reason: str) -> None:
        """Closing time or the end of the plan. The clear is confirmed like a show (an LED
        board's ACK, mpv's black frame), so it proves the screen was up until now: only then
        is what was on credited to its planned end; a screen found down at the clear gets
        the usual credit, up to its last proof."""
        latency = self.driver.switch_latency_s
        self.driver.last_attempts = 1
        try:
            self.driver.clear()
        except ScreenUnavailable as exc:
            self._go_down(str(exc))
            return
        conf = Answer(now, self.clock.monotonic(), self.driver.last_attempts)
        claim = self._claim
        if self.on is not None and claim is not None:
            self._end_showing(claim.cleared(conf, latency), None,
                              claim.why_short(conf, latency))
        self._claim = None
        self.log.append("screen_clear", screen=self.screen.id, reason=reason)
        if self.codes is not None:
            self.codes.stats.closed()

    # ---- availability --------------------------------------------------------------------
    def _vouched(self, health: Health, asked: float, latency: float) -> None:
        """A healthy check asked at ``asked``: it answered now (the instant of the answer, not
        of the question); what it proves is for signage/runtime/credit.py to say."""
        if self._claim is not None:
            answer = Answer(asked, self.clock.monotonic(), self.driver.last_attempts,
                            health.as_of)
            self._claim = self._claim.checked(answer, latency)

    def _proven_end(self, now: float) -> float:
        """The latest end the item on screen may claim without a later confirmation."""
        claim = self._claim
        assert claim is not None and self.on is not None
        return claim.lost(now)

    def _go_down(self, reason: str) -> None:
        """The screen is unavailable. What was on it is credited only up to the last instant
        the screen was known to be up (a confirmed switch or a healthy check), never up to now:
        a player that died unnoticed showed nothing."""
        now = self.clock.monotonic()
        if self.on is not None:
            self._end_showing(self._proven_end(now), "cut_short", "screen unavailable")
        self._claim = None
        if self._avail.went_down(now):
            self.log.append("screen_down", screen=self.screen.id, reason=reason[:500])
        try:
            self.driver.close()
        except Exception:  # close never raises by contract; a plugin might
            pass

    def _try_open(self, first: bool) -> None:
        try:
            self.driver.open()
        except ScreenUnavailable as exc:
            if first:
                self.log.append("driver_error", screen=self.screen.id, item=None,
                                error="unavailable", message=str(exc)[:500])
            self._go_down(str(exc))
            return
        now = self.clock.monotonic()
        down = self._avail.came_up(now)
        if down is not None:
            self.log.append("screen_up", screen=self.screen.id, down_s=round(down, 3))
        self._last_ok = now

    def finish(self, reason: str) -> None:
        """Stop: close the record of what is on screen, release the driver. In real time what
        is on is credited up to what a last health check proves (an LED board's last answer),
        as at any other check: nothing later will confirm it."""
        self._sync()
        on = self.on
        if on is not None:
            now = self.clock.monotonic()
            end = now
            if self._poll and self.up:
                latency = self.driver.switch_latency_s
                self.driver.last_attempts = 1
                try:
                    health: Health | None = self.driver.health()
                except Exception:  # health never raises by contract; a plugin might
                    health = None
                if health is not None and health.ok:
                    self._vouched(health, now, latency)
                end = self._proven_end(self.clock.monotonic())
            self._end_showing(end, None, reason)
            self._claim = None
        with contextlib.suppress(Exception):
            self.driver.close()

    # ---- for the live view and heartbeats ------------------------------------------------
    def status(self) -> dict[str, Any]:
        on = self.on
        return {
            "item": on.item.id if on else None,
            "anti_fraud": bool(on and on.item.anti_fraud),
            "since_mono": round(on.start_mono, 3) if on else None,
        }

    def seconds_to_next_af(self) -> float | None:
        if self._af_on:
            return 0.0
        nxt = self.next_af_ms
        return None if nxt is None else max(0.0, nxt / 1000.0 - self.clock.time())
