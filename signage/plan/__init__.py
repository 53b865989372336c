"""The planner: pure functions of the site model and of time."""

from .timeline import Entry, Timeline, worst_gap_ms

__all__ = ["Entry", "Timeline", "worst_gap_ms"]
