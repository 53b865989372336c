"""The daemon's periodic jobs, for both clocks.

Heartbeats and the reload check run on monotonic intervals: a wall-clock step (NTP, a box that
booted in 1970) must neither stop nor flood them, and systemd's watchdog rides on the
heartbeat. Wall-clock jobs (the log rotation at local midnight) are triggers with APScheduler
3's interface (``get_next_fire_time``), asked for "the next fire time after now" and re-armed
whenever the wall clock steps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from ..driver import Clock
from ..timeutil import CLOCK_STEP_S


class WallTrigger(Protocol):
    """APScheduler 3's trigger interface (any of its triggers fits)."""

    def get_next_fire_time(self, previous_fire_time: datetime | None,
                           now: datetime) -> datetime | None: ...


class LocalMidnight:
    """Fires at 00:00 local time in ``tz`` every day: the instants of APScheduler's
    ``CronTrigger(hour=0, minute=0, second=0, timezone=tz)`` (tests/runtime/test_housekeeping.py
    compares them, DST zones included), without importing its cron module, which brings asyncio,
    ssl and tzlocal into the daemon (3.2 MiB of its ≤ 60 MB budget, docs/benchmarks.md). Where
    a DST change skips midnight, the day starts at the first instant after it."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    def _midnight(self, day: datetime) -> datetime:
        # fold=0: a skipped 00:00 gets the offset before the change, i.e. the change's instant;
        # a repeated 00:00 is its first occurrence
        at = datetime.combine(day.date(), time(0), tzinfo=self.tz)
        return datetime.fromtimestamp(at.timestamp(), self.tz)

    def get_next_fire_time(self, previous_fire_time: datetime | None,
                           now: datetime) -> datetime | None:
        local = now.astimezone(self.tz)
        today = self._midnight(local)
        if today >= now:
            return today
        return self._midnight(local + timedelta(days=1))


class Housekeeping:
    def __init__(self, clock: Clock, tz: ZoneInfo, run: Callable[[str], None]) -> None:
        self._clock = clock
        self._tz = tz
        self._run = run
        self._every: list[tuple[str, float]] = []
        self._due_mono: list[float] = []
        self._triggers: list[tuple[str, WallTrigger]] = []
        self._due_wall: list[float] = []
        self._offset = clock.time() - clock.monotonic()
        # the earliest of _due_mono and of _due_wall, kept whenever they change: the
        # simulation asks next_due() at every event
        self._min_mono = float("inf")
        self._min_wall = float("inf")

    def _mins(self) -> None:
        self._min_mono = min(self._due_mono) if self._due_mono else float("inf")
        self._min_wall = min(self._due_wall) if self._due_wall else float("inf")

    def every(self, name: str, seconds: float) -> None:
        self._every.append((name, seconds))
        self._due_mono.append(self._clock.monotonic() + seconds)
        self._mins()

    def at(self, name: str, trigger: WallTrigger) -> None:
        self._triggers.append((name, trigger))
        self._due_wall.append(self._next_fire(trigger, self._clock.time()))
        self._mins()

    def _next_fire(self, trig: WallTrigger, after: float) -> float:
        now = datetime.fromtimestamp(after, self._tz)
        nxt = trig.get_next_fire_time(None, now + timedelta(microseconds=1))
        return nxt.timestamp() if nxt is not None else float("inf")

    def _rearm_on_step(self) -> None:
        offset = self._clock.time() - self._clock.monotonic()
        if abs(offset - self._offset) > CLOCK_STEP_S:
            now = self._clock.time()
            self._due_wall = [self._next_fire(t, now) for _, t in self._triggers]
            self._mins()
        self._offset = offset

    def next_due(self) -> float:
        """The monotonic instant of the next job."""
        clock = self._clock  # _rearm_on_step's common case inline (asked at every event)
        offset = clock.time() - clock.monotonic()
        if not -CLOCK_STEP_S <= offset - self._offset <= CLOCK_STEP_S:
            self._rearm_on_step()
        else:
            self._offset = offset
        t = self._min_wall - self._offset
        return t if t < self._min_mono else self._min_mono

    def run_due(self) -> None:
        """Run every job that is due now (each at most once per call)."""
        self._rearm_on_step()
        mono = self._clock.monotonic()
        if mono >= self._min_mono:
            for k, (name, seconds) in enumerate(self._every):
                if mono >= self._due_mono[k]:
                    self._run(name)
                    # keep the cadence; after a long stall, resume from now, not catch up
                    nxt = self._due_mono[k] + seconds
                    self._due_mono[k] = nxt if nxt > mono else mono + seconds
        wall = self._clock.time()
        if wall >= self._min_wall:
            for k, (name, trig) in enumerate(self._triggers):
                if wall >= self._due_wall[k]:
                    self._run(name)
                    self._due_wall[k] = self._next_fire(trig, wall)
        self._mins()
