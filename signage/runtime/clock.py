"""Clocks: the real one, and a virtual one that a loop advances (a day in seconds)."""

from __future__ import annotations

import threading
import time


class RealClock:
    """time.monotonic for durations, time.time for the wall (which may step)."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self._stop = stop or threading.Event()

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep_until(self, monotonic_deadline: float) -> None:
        """Sleep until the deadline or until the stop event is set."""
        while True:
            left = monotonic_deadline - time.monotonic()
            if left <= 0 or self._stop.is_set():
                return
            # wake a little early (an Event's wait may overshoot), then one plain sleep to
            # the deadline: time.sleep sleeps to an absolute monotonic deadline (well under
            # 1 ms late on an idle core), where 1 ms steps woke the thread ~20 times per
            # deadline for no better precision (issue 14: the idle box's CPU)
            if left > 0.02:
                self._stop.wait(left - 0.01)
            else:
                time.sleep(left)


class VirtualClock:
    """A clock that only moves when told. ``wall_offset`` maps monotonic to wall time and can
    be stepped to simulate an NTP correction or a box that booted in 1970."""

    def __init__(self, wall_start: float, mono_start: float = 1000.0) -> None:
        self._mono = mono_start
        self.wall_offset = wall_start - mono_start

    def monotonic(self) -> float:
        return self._mono

    def time(self) -> float:
        return self._mono + self.wall_offset

    def advance_to(self, monotonic: float) -> None:
        if monotonic > self._mono:
            self._mono = monotonic

    def sleep_until(self, monotonic_deadline: float) -> None:
        self.advance_to(monotonic_deadline)

    def step_wall(self, seconds: float) -> None:
        self.wall_offset += seconds
