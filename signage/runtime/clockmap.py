"""Wall time to monotonic time, for one screen runner: the plan is in wall milliseconds, the
switches are timed on the monotonic clock. Pure: the runner passes the clock's readings."""

from __future__ import annotations

from ..timeutil import CLOCK_STEP_S


class ClockMap:
    """The wall-minus-monotonic offset, read once per wake-up (``sync``). A change of more
    than CLOCK_STEP_S is a wall-clock step (NTP, a box that booted in 1970): the plan's wall
    times no longer map to the same monotonic instants, so ``stepped`` is raised for the
    runner to re-plan from now; instants from before the step keep the wall time they had."""

    __slots__ = ("_before", "_synced", "stepped", "w2m")

    def __init__(self) -> None:
        self.w2m = 0.0
        self._synced = False
        self.stepped = False
        self._before: tuple[float, float] | None = None

    def sync(self, mono: float, wall: float) -> None:
        w2m = mono - wall
        if abs(w2m - self.w2m) > CLOCK_STEP_S and self._synced:
            self.stepped = True
            # instants before this one keep the wall time they had: (from mono, offset)
            self._before = (mono, self.w2m)
        self.w2m = w2m
        self._synced = True

    def mono_of(self, wall_ms: int) -> float:
        return wall_ms / 1000.0 + self.w2m

    def wall_of(self, mono: float) -> float:
        before = self._before
        if before is not None and mono < before[0] - 1.0:
            return mono - before[1]  # an instant from before the last clock step
        return mono - self.w2m
