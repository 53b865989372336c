"""Whether a screen is up, and when to try it again: exponential backoff between tries, and
which transitions are worth a record (``screen_down`` once per outage, ``screen_up`` with
the outage's length). Pure: the runner passes the monotonic instants and writes the records."""

from __future__ import annotations

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0


class Availability:
    __slots__ = ("backoff", "down_since", "retry_at", "up")

    def __init__(self) -> None:
        self.up = False
        self.down_since: float | None = None
        self.retry_at = 0.0
        self.backoff = BACKOFF_MIN_S

    def went_down(self, now: float) -> bool:
        """The screen is unavailable at ``now``. True when this begins an outage (the runner
        logs ``screen_down``): a screen that was up, or the first failure after a start."""
        new = self.up or self.down_since is None
        if new:
            self.down_since = now
        self.up = False
        self.retry_at = now + self.backoff
        self.backoff = min(BACKOFF_MAX_S, self.backoff * 2)
        return new

    def came_up(self, now: float) -> float | None:
        """The screen opened at ``now``: how long it was down (for ``screen_up``), or None when
        it was not down."""
        down = None if self.down_since is None else now - self.down_since
        self.down_since = None
        self.up = True
        self.backoff = BACKOFF_MIN_S
        return down
