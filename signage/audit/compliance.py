"""Compliance with the gap rule, per screen and local day, inside opening hours. Pure: it eats
the scanner's events in log order and keeps per-screen running state only.

A screen's measured intervals run from a reference point to the start of its next anti-fraud
showing (``showing`` with anti_fraud true and outcome completed or cut_short). The reference
is the end of the previous anti-fraud showing ("end-to-start") or its start
("start-to-start"); at first it is the start of the audited period, or the instant the
screen appeared in the configuration. Whatever the log cannot prove was anti-fraud content is
gap. Lengths are taken on the monotonic clock when both ends are in one boot, otherwise on
the wall clock (flag "reboot"); the interval is placed in opening hours on the wall clock and
cut there: the parts inside opening hours are the gaps ("pieces"). If wall and monotonic time
disagree by more than a second across a gap (a clock step), the placement that yields the
longer gap is used (flag "clock_step").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..alerts import ALERT_CATEGORY
from ..config import Hours
from ..i18n import _
from ..timeutil import local_ms
from . import events as S
from .hours import HoursTimeline
from .model import CAUSES, AlertCount, Compliance, DayStat, ItemCount, Outage, Violation
from .state import ScreenState, compact, read_config, screen_hours
from .yardstick import (
    Yardstick,
    describe_hours,
    differences,
    of_record,
    screen_hours_changes,
)

#: a log whose last record is older than this (before now, or before --to) is said to end early
END_SLACK_MS = 120_000
STEP_MS = 1000  # wall vs monotonic disagreement counted as a clock step (as the writer does)
SILENT_MS = 90_000  # a run silent for longer (and > 3 heartbeats) was not running


class Engine:
    def __init__(self, *, limit_override_ms: int | None = None, period_from: int | None = None,
                 period_to: int | None = None, screens: Iterable[str] | None = None,
                 on_violation: Callable[[Violation], None] = lambda _v: None,
                 profile: Yardstick | None = None, now_ms: int | None = None) -> None:
        self.r = Compliance()
        self._profile = profile
        self._now = now_ms
        self._prev_ys: Yardstick | None = None
        #: (at, seq, hours before, tz before, hours after, tz after, index in config_changes)
        self._hours_changes: list[tuple[int, Any, Hours, ZoneInfo, Hours, ZoneInfo, int]] = []
        self._strict: int | None = None  # the strictest limit any configuration named
        if profile is not None:
            self.r.yardstick = "profile"
        self.hours = HoursTimeline()
        self._override = limit_override_ms
        self._from, self._to = period_from, period_to
        self._filter = set(screens) if screens is not None else None
        self._emit = on_violation
        self.measure = "end-to-start"
        self._s2s = False
        self._limit: int | None = limit_override_ms
        self.scr: dict[str, ScreenState] = {}
        self.all_screens: list[str] = []  # every screen any configuration named
        self.daemon_down: list[tuple[int, int]] = []
        self.dropped: list[tuple[int, int]] = []
        self.steps: list[int] = []
        self.t0 = self.t1 = 0
        self._run_end: tuple[int, int, str] | None = None
        self._stop_reason: str | None = None
        self._hb: dict[str, int] = {}
        self._d0 = self._d1 = 0
        self._dday = date(1970, 1, 1)
        self._unknown: set[str] = set()
        self._runs: set[str] = set()

    # ---- configuration -----------------------------------------------------------------
    def start(self, first: tuple[str, str, int, int, str],
              config: dict[str, Any] | None) -> None:
        """Begin with the log's first record header and the first configuration found (None:
        none can be read; nothing is measured until a readable one comes). Never raises."""
        _run, boot, wall, mono, _t = first
        self.t0 = wall if self._from is None else self._from
        self.t1 = self._to if self._to is not None else 2**62
        if self._from is not None and self._from < wall:
            self._down(self._from, wall, "no_records", _("no log records before this"))
        exact = self.t0 == wall
        if config is not None:
            self._mode(config, str(config.get("run", _run)), wall)
        if config is None or not self._apply(config, self.t0 - 2 * 86_400_000,
                                             mono if exact else None, boot if exact else None):
            self.r.tz = "UTC"
            self.r.warnings.append(_("no run_start record can be read: the site, its rule and "
                                     "opening hours are unknown"))
        for s in self.scr.values():
            s.ref_wall = self.t0

    def _apply(self, rec: dict[str, Any], wall: int, mono: int | None, boot: str | None,
               ) -> bool:
        got = read_config(rec, self.r.site)
        if isinstance(got, str):
            self.r.warnings.append(got)
            return False
        site, tz, hours, rule, screens = got
        nc = rec.get("new_chain")
        if isinstance(nc, dict):
            head = nc.get("previous_head") or {}
            self.r.warnings.append(
                _("seq {seq} starts a new chain with a new key (signage new-chain, {at}: "
                  "{reason}); the log before it is in {dir}").format(
                      seq=rec.get("seq"), at=nc.get("at"), reason=nc.get("reason"),
                      dir=nc.get("previous_dir"))
                + (f" (head {head.get('file')}:{head.get('seq')}:{head.get('mac')})"
                   if head else "") + _(", verified with its own key"))
        self.r.site = {"id": site.get("id"), "name": site.get("name"), "tz": site.get("tz"),
                       "contact": site.get("contact")}
        ys = of_record(str(site["tz"]), hours, rule.max_gap_s, rule.measure, screens)
        at = max(wall, self.t0)
        if self._profile is not None:
            p = self._profile
            for what, log_v, prof_v in differences(ys, p):
                self._change(rec, at, what, log_v, prof_v, _(
                    "judged against the registered profile, not against the log's "
                    "configuration"))
            tz, hours = ZoneInfo(p.timezone), p.hours
            gap_s, measure = p.max_gap_s, p.measure
            screens = {**{sid: {"id": sid} for sid in p.screens}, **screens}
        else:
            gap_s, measure = rule.max_gap_s, rule.measure
            if self._prev_ys is not None:
                self._log_changes(rec, at, self._prev_ys, ys)
            self._prev_ys = ys
        self.r.tz = str(tz)
        limit = self._override or round(gap_s * 1000)
        self._strict = limit if self._strict is None else min(self._strict, limit)
        self.hours.add(wall, hours, tz, limit)
        self.r.limit_ms = limit
        self.r.planned_ms = min(limit, round((rule.max_gap_s - rule.margin_s) * 1000))
        self.r.limit_source = ("--max-gap" if self._override else
                               "profile" if self._profile is not None else "log")
        self.measure = self.r.measure = measure
        self._s2s = measure == "start-to-start"
        limits = self.hours.distinct_limits()
        self._limit = self._override or (limits.pop() if len(limits) == 1 else None)
        items = rec.get("items")
        if isinstance(items, dict):
            self.r.catalogue.update({str(k): v for k, v in items.items() if isinstance(v, dict)})
        for sid, entry in screens.items():
            if sid not in self.all_screens:
                self.all_screens.append(sid)
            if self._filter is not None and sid not in self._filter:
                continue
            self.r.screens[sid] = entry
            s = self.scr.get(sid)
            if s is None:
                s = self.scr[sid] = ScreenState(sid)
                self.r.days[sid] = s.days
            # the hours this screen keeps: its own ([screens.hours] in the record), else the
            # site's; a screen's own hours that cannot be read are the site's, with a warning
            own = screen_hours(entry)
            if self._profile is not None and own is not None:
                if not isinstance(own, str):  # the profile's hours are the yardstick
                    self._change(rec, at, f"screens.{sid}.hours", describe_hours(own),
                                 self._profile.hours_text(), _(
                                     "judged against the registered profile's hours, not the "
                                     "screen's own"))
                own = None
            if isinstance(own, str):
                self.r.warnings.append(_("screen {sid}: {own}; the site's hours are "
                                         "used").format(sid=sid, own=own))
                own = None
            s.hours.add(wall, own or hours, tz, limit)
            s.o0 = s.o1 = 0
            if not s.active:
                s.active = True
                s.ref_wall, s.ref_mono, s.ref_boot = at, mono, boot
                s.life.append([at, None])
        for sid, s in self.scr.items():
            s.o0 = s.o1 = 0  # the hours may have changed: forget cached stretches
            if s.active and sid not in screens:
                self._end_screen(s, wall, mono, boot)
                s.active = False
                s.life[-1][1] = wall
        self._d0 = self._d1 = 0
        return True

    def _change(self, rec: dict[str, Any], at: int, what: str, before: str, after: str,
                effect: str) -> None:
        ch = self.r.config_changes
        if len(ch) >= 1000:
            return
        src = "profile" if self._profile is not None else "log"
        ch.append({"seq": rec.get("seq"), "at": at, "record": rec.get("type"), "what": what,
                   "before" if src == "log" else "log": before,
                   "after" if src == "log" else "profile": after, "effect": effect})

    def _log_changes(self, rec: dict[str, Any], at: int, old: Yardstick, new: Yardstick,
                     ) -> None:
        """Every change of the yardstick this configuration record makes, with its effect
        on the verdict (the effect of new hours is measured at the end of the period)."""
        for what, before, after in differences(old, new):
            if what == "max_gap_s":
                effect = (_("gaps from then on are judged against {after} s instead of "
                            "{before} s").format(after=after, before=before)
                          + (_(" (a laxer rule)") if float(after) > float(before) else ""))
            elif what == "measure":
                effect = _("gaps from then on are measured {after}").format(after=after)
            elif what == "timezone":
                effect = _("days and opening hours are placed in {tz} from then on").format(
                    tz=after)
            elif what == "screens":
                gone = sorted(set(old.screens) - set(new.screens))
                came = sorted(set(new.screens) - set(old.screens))
                effect = "; ".join(
                    ([_("not judged from then on: {ids}").format(ids=", ".join(gone))]
                     if gone else [])
                    + ([_("judged from then on: {ids}").format(ids=", ".join(came))]
                       if came else []))
            else:
                effect = _("opening time from then on: measured at the end of the period")
                self._hours_changes.append((at, rec.get("seq"), old.hours,
                                            ZoneInfo(old.timezone), new.hours,
                                            ZoneInfo(new.timezone),
                                            len(self.r.config_changes)))
            self._change(rec, at, what, before, after, effect)
        for what, before, after in screen_hours_changes(old, new):
            self._change(rec, at, what, before, after, _(
                "this screen is judged inside these hours from then on"))

    # ---- events ----------------------------------------------------------------------------
    def feed(self, events: Iterable[tuple[Any, ...]]) -> None:
        af = self._af
        for ev in events:
            k = ev[0]
            if k == S.AF:
                af(ev)
            elif k == S.MARK:
                self._mark(ev)
            elif k == S.STORE:
                s = self.scr.get(ev[1])
                sp = S.span_ms(ev[2])
                if s is not None and s.active and sp is not None:
                    s.marks.append(("store_content", *sp))
                    self._close_blank(s, sp[0])
                    if len(s.marks) > 512:
                        s.marks = compact(s.marks)
            elif k == S.CONFIG:
                _k, _seq, wall, mono, boot, _run, rec = ev
                if rec.get("type") == "run_start":
                    self._mode(rec, _run, wall)
                    self._run_start(wall)
                self._apply(rec, wall, mono, boot)
            elif k == S.RUN_END:
                self.run_end(ev[1], ev[2], ev[3])
            elif k == S.RUN_STOP:
                self._stop_reason = ev[4]
            elif k == S.SILENCE:
                self.silence(ev[1], ev[2], ev[4] - ev[3], ev[6])
            elif k == S.CLOCK:
                self.steps.append(ev[1])
                self._step(ev[1], ev[2] / 1000, _("clock_step record"))
            elif k == S.DROPPED:
                _k, wall, mono, _b, count, first, _last = ev
                self.dropped.append((wall - max(0, mono - first), wall))
                self.r.warnings.append(_("{count} records were dropped (log storage full) before "
                                         "{time}").format(count=count, time=self._iso(wall)))

    def _mode(self, rec: dict[str, Any], run: str, wall: int) -> None:
        """Count the runs by mode: a `signage simulate` run (mode = simulate) makes the whole
        audit's verdict "simulated" (docs/log-format.md)."""
        if rec.get("type") != "run_start" or run in self._runs:
            return
        self._runs.add(run)
        if rec.get("mode") == "simulate":
            self.r.simulated_runs.append((run, wall))
        else:
            self.r.real_runs += 1

    def heartbeat_cadence(self, cadence: dict[str, int]) -> None:
        for run, ms in cadence.items():
            self._hb[run] = min(self._hb.get(run, ms), ms)

    def run_end(self, wall: int, mono: int, boot: str) -> None:
        self._run_end = (wall, mono, boot)

    def silence(self, a: int, b: int, length: int, run: str) -> None:
        if length > max(SILENT_MS, 3 * self._hb.get(run, 30_000)):
            self._down(a, b, "daemon_not_running",
                       _("no records for {seconds:.0f} s (daemon hung or "
                         "stopped)").format(seconds=length / 1000))

    def _run_start(self, wall: int) -> None:
        if self._run_end is None:
            return
        end = self._run_end[0]
        why = (f"stopped ({self._stop_reason})" if self._stop_reason is not None
               else _("crashed or lost power (no run_stop)"))
        self._down(end, wall, "daemon_not_running", why)
        for s in self.scr.values():
            if s.down is not None:
                self._up(s, end)
            if s.blank is not None:
                s.marks.append(("screen_blank", s.blank, end))
                s.blank = None
        self._run_end = None
        self._stop_reason = None

    def _down(self, a: int, b: int, kind: str, why: str) -> None:
        if b > a:
            self.daemon_down.append((a, b))
            self.r.outages.append(Outage(kind, None, a, b, why))

    def _mark(self, ev: tuple[Any, ...]) -> None:
        _k, what, sid, wall, _mono, _boot, text = ev
        s = self.scr.get(sid)
        if s is None or not s.active:
            return
        if what in (S.DRIVER_ERROR, S.SHOW_FAILED):
            s.marks.append(("driver_error", wall, wall))
        elif what == S.SCREEN_DOWN:
            if s.down is None:
                s.down = (wall, text)
        elif what == S.SCREEN_UP:
            if s.down is not None:
                self._up(s, wall)
        elif what == S.SCREEN_CLEAR and s.blank is None:
            s.blank = wall
        if len(s.marks) > 512:
            s.marks = compact(s.marks)

    def _up(self, s: ScreenState, wall: int) -> None:
        assert s.down is not None
        s.marks.append(("screen_down", s.down[0], wall))
        self.r.outages.append(Outage("screen_down", s.sid, s.down[0], wall, s.down[1]))
        s.down = None

    def _close_blank(self, s: ScreenState, at: int) -> None:
        if s.blank is not None:
            s.marks.append(("screen_blank", s.blank, at))
            s.blank = None

    def _af(self, ev: tuple[Any, ...]) -> None:
        _k, sid, item, cat, sw, ew, sm, em, boot, _done, spans = ev
        s = self.scr.get(sid)
        if s is None or not s.active:
            self._unknown.add(sid)
            return
        if s.blank is not None:
            sp = S.span_ms(spans)
            self._close_blank(s, sp[0] if sp else sw)
        if em <= sm:  # shown for no time at all: proves nothing
            sp = S.span_ms(spans)
            if sp is not None:
                s.marks.append(("store_content", *sp))
            return
        am = s.ref_mono
        same = s.ref_boot == boot and am is not None
        if same:
            assert am is not None
            length = sm - am
            if length > 0:  # the gap since the reference point (the common case inline)
                aw = s.ref_wall
                drift = sw - aw - length
                if (-STEP_MS <= drift <= STEP_MS and s.o0 <= aw and aw + length <= s.o1
                        and aw >= self.t0 and aw + length <= self.t1):
                    if s.oopen:
                        self._piece(s, aw, aw + length, length, (), spans)
                else:
                    self._close(s, sw, sm, boot, spans)
        elif sw > s.ref_wall:
            self._close(s, sw, sm, boot, spans)
        # coverage (airtime), inside opening hours and the period
        if sw >= self.t0 and ew <= self.t1 and s.oopen and s.o0 <= sw and ew <= s.o1:
            st = self._stat(s, sw)
            st.af_ms += em - sm
            st.af_showings += 1
        elif ew > self.t0 and sw < self.t1:
            for p0, p1 in s.hours.open_in(max(sw, self.t0), min(ew, self.t1)):
                self._stat(s, p0).af_ms += p1 - p0
            if self.t0 <= sw < self.t1:
                self._stat(s, sw).af_showings += 1
        if self.t0 <= sw < self.t1:
            c = self.r.items.get(item)
            if c is None:
                c = self.r.items[item] = ItemCount(item, cat)
            c.showings += 1
            c.ms += em - sm
            c.screens.add(sid)
            if cat == ALERT_CATEGORY:
                a = self.r.alerts.get((sid, item))
                if a is None:
                    a = self.r.alerts[(sid, item)] = AlertCount(sid, item, first=sw)
                a.showings += 1
                a.ms += em - sm
                a.last = max(a.last, ew)
        # the new reference point
        if self._s2s:
            nw, nm = sw, sm
        else:
            nw, nm = ew, em
        if (nm > s.ref_mono) if same else (nw > s.ref_wall):
            s.ref_wall, s.ref_mono, s.ref_boot = nw, nm, boot
        if s.marks:
            s.marks = [m for m in s.marks if m[2] > s.ref_wall]

    # ---- gaps ------------------------------------------------------------------------------
    def _close(self, s: ScreenState, bw: int, bm: int | None, bboot: str | None,
               spans: tuple[bytes, bytes] | None = None) -> None:
        aw, am = s.ref_wall, s.ref_mono
        flags: tuple[str, ...] = ()
        if am is not None and bm is not None and s.ref_boot == bboot:
            length = bm - am
            drift = (bw - aw) - length
            clock = drift > STEP_MS or drift < -STEP_MS
        else:
            length = bw - aw
            clock = False
            if s.ref_boot is not None and bboot is not None and s.ref_boot != bboot:
                flags = ("reboot",)
        if length <= 0:
            return
        if not clock:
            if not (s.o0 <= aw < s.o1):
                s.o0, s.o1, s.oopen = s.hours.stretch_at(aw)
            if aw + length <= s.o1 and aw >= self.t0 and aw + length <= self.t1:
                if s.oopen:
                    self._piece(s, aw, aw + length, length, flags, spans)
                return
            pieces = self._cut(s, aw, aw + length)
        else:
            flags += ("clock_step",)
            self._step(bw, drift / 1000, _("observed on {sid}").format(sid=s.sid))
            early, late = self._cut(s, aw, aw + length), self._cut(s, bw - length, bw)
            pieces = max(early, late, key=lambda ps: max((b - a for a, b in ps), default=0))
        for p0, p1 in pieces:
            self._piece(s, p0, p1, p1 - p0, flags, spans)

    def _cut(self, s: ScreenState, a: int, b: int) -> list[tuple[int, int]]:
        return s.hours.open_in(max(a, self.t0), min(b, self.t1))

    def _piece(self, s: ScreenState, p0: int, p1: int, length: int, flags: tuple[str, ...],
               spans: tuple[bytes, bytes] | None) -> None:
        st = self._stat(s, p0)
        if length > st.max_gap_ms:
            st.max_gap_ms = length
        hrs = st.hours
        h0 = (p0 - self._d0) // 3_600_000
        h1 = (p1 - 1 - self._d0) // 3_600_000
        if h0 == h1 and 0 <= h0 < 24:
            if length > hrs[h0]:
                hrs[h0] = length
        else:
            for h in range(min(23, max(0, h0)), min(23, max(0, h1)) + 1):
                if length > hrs[h]:
                    hrs[h] = length
        limit = self._limit if self._limit is not None else self.hours.limit_in(p0, p1)
        if length <= limit:
            if self._strict is not None and length > self._strict:
                self.r.lenient_gaps += 1
            return
        st.violations += 1
        st.violation_ms += length
        self.r.violations += 1
        causes = self._causes(s, p0, p1, spans)
        if any(p0 - STEP_MS <= t <= p1 + STEP_MS for t in self.steps) and "clock_step" not in flags:
            flags += ("clock_step",)
        cause = next((c for c in CAUSES if c in causes), "unknown")
        self._emit(Violation(s.sid, self._dday, p0, p1, length, limit, cause,
                             tuple(c for c in CAUSES if c in causes) or ("unknown",), flags))

    def _causes(self, s: ScreenState, p0: int, p1: int,
                spans: tuple[bytes, bytes] | None) -> set[str]:
        got = {c for c, a, b in s.marks if a <= p1 and b >= p0}
        sp = S.span_ms(spans)
        if sp is not None and sp[0] <= p1 and sp[1] >= p0:
            got.add("store_content")
        if s.down is not None and s.down[0] <= p1:
            got.add("screen_down")
        if s.blank is not None and s.blank <= p1:
            got.add("screen_blank")
        if any(a < p1 and b > p0 for a, b in self.daemon_down):
            got.add("daemon_not_running")
        if any(a <= p1 and b >= p0 for a, b in self.dropped):
            got.add("records_dropped")
        return got

    def _stat(self, s: ScreenState, t: int) -> DayStat:
        if not (self._d0 <= t < self._d1):
            tz = self.hours.tz_at(t)
            day = datetime.fromtimestamp(t / 1000, tz).date()
            self._dday = day
            self._d0 = local_ms(day, 0, tz)
            self._d1 = local_ms(day + timedelta(days=1), 0, tz)
        st = s.days.get(self._dday)
        if st is None:
            st = s.days[self._dday] = DayStat()
        return st

    def _step(self, at: int, step_s: float, source: str) -> None:
        steps = self.r.clock_steps
        if len(steps) < 1000 and not any(abs(c["at"] - at) < 60_000 for c in steps[-20:]):
            steps.append({"at": at, "step_s": round(step_s, 3), "source": source})

    def _end_screen(self, s: ScreenState, wall: int, mono: int | None, boot: str | None) -> None:
        if s.down is not None:
            self._up(s, wall)
        self._close_blank(s, wall)
        if mono is not None and s.ref_mono is not None and s.ref_boot == boot:
            later = mono > s.ref_mono
        else:
            later = wall > s.ref_wall
        if later:
            self._close(s, wall, mono, boot)

    # ---- the end ---------------------------------------------------------------------------
    def finish(self, last: tuple[str, str, int, int, str]) -> Compliance:
        _run, boot, wall, mono, _t = last
        t1 = wall if self._to is None else self._to
        self.t1 = t1
        if t1 > wall:
            self._down(wall, t1, "no_records", _("no log records after this"))
        exact = t1 == wall
        for s in self.scr.values():
            if s.active:
                self._end_screen(s, t1, mono if exact else None, boot if exact else None)
                s.life[-1][1] = t1
        self.r.period = (self.t0, t1)
        self._open_time()
        self._effects(t1)
        self._period_end(wall, t1)
        if self._unknown:
            self.r.warnings.append(_("showings for screens not in the configuration were ignored: "
                                     "{screens}").format(
                                         screens=", ".join(sorted(self._unknown)[:10])))
        return self.r

    def _effects(self, t1: int) -> None:
        """The measured effect of each change: opening time under the new hours against the
        old ones, from the change to the end of the period; gaps a laxer rule let pass."""
        for at, _seq, h0, tz0, h1, tz1, idx in self._hours_changes:
            if idx >= len(self.r.config_changes):
                continue
            before, after = HoursTimeline(), HoursTimeline()
            before.add(0, h0, tz0, 0)
            after.add(0, h1, tz1, 0)
            a = sum(y - x for x, y in after.open_in(at, t1))
            b = sum(y - x for x, y in before.open_in(at, t1))
            self.r.config_changes[idx]["effect"] = _(
                "opening time judged from then to the end of the period: {a:.1f} h instead of "
                "{b:.1f} h under the hours before").format(a=a / 3_600_000, b=b / 3_600_000)
        if self._profile is None and self.r.lenient_gaps:
            self.r.warnings.append(_(
                "{n} gaps are longer than the strictest rule the log named ({limit:g} s) but "
                "within a laxer rule a configuration set later: they are not violations only "
                "because of that change").format(n=self.r.lenient_gaps,
                                                 limit=(self._strict or 0) / 1000))
        if self.r.config_changes:
            n = len(self.r.config_changes)
            self.r.warnings.append(
                _("{n} differences between the log's configuration and the registered profile "
                  "(the profile was used): see config_changes").format(n=n)
                if self._profile is not None else
                _("the log's configuration changed {n} times (hours, rule or screens, by a "
                  "reload or a restart): each is judged as the log says; without the site's "
                  "registered profile (--trust) nothing shows whether those changes were "
                  "allowed: see config_changes").format(n=n))

    def _period_end(self, last_wall: int, t1: int) -> None:
        """Say when the audited period ends before the present or before --to."""
        if self._to is None and self._now is not None and self._now - last_wall > END_SLACK_MS:
            self.r.warnings.append(_(
                "the audited period ends at the log's last record ({at}), {h:.1f} h before "
                "now: the log proves nothing after it (a stopped daemon, or a tail cut off); "
                "pass --to to judge the time up to then").format(
                    at=self._iso(last_wall), h=(self._now - last_wall) / 3_600_000))
        elif self._to is not None and last_wall < t1 - END_SLACK_MS:
            self.r.warnings.append(_(
                "the log ends at {at}, {h:.1f} h before --to: that time has no records and is "
                "counted as gap").format(at=self._iso(last_wall),
                                         h=(t1 - last_wall) / 3_600_000))

    def _open_time(self) -> None:
        """Opening time per screen and day (and per hour, for the report's chart), within
        the period and the screen's lifetime."""
        cache: dict[tuple[int, int, int], list[tuple[date, int, int]]] = {}
        for s in self.scr.values():
            for a, b in s.life:
                assert a is not None and b is not None
                lo, hi = max(a, self.t0), min(b, self.t1)
                key = (id(s.hours), lo, hi)
                got = cache.get(key)
                if got is None:
                    got = cache[key] = list(self.hours.per_hour(s.hours.open_in(lo, hi)))
                for day, hour, ms in got:
                    st = s.days.get(day)
                    if st is None:
                        st = s.days[day] = DayStat()
                    st.open_ms += ms
                    st.open_hours[hour] += ms
                if hi > lo:
                    for day, hour, ms in self.hours.per_hour([(lo, hi)]):
                        st = s.days.get(day)
                        if st is not None:  # a day with no opening time has no row
                            st.audited_hours[hour] += ms

    def _iso(self, t: int) -> str:
        return datetime.fromtimestamp(t / 1000, self.hours.tz_at(t)).isoformat(
            timespec="seconds")


