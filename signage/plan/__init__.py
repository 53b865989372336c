"""The planner: pure functions of the site model and of time."""

from .timeline import Entry, Timeline

__all__ = ["Entry", "Timeline"]
