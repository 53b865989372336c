"""The runner's hook for the inspection code (signage/inspection/issuer.py): one per screen.

Kept apart from runner.py so that the runner carries only a few calls: ``attach`` (an
anti-fraud item gets its code), ``refresh_at`` (when to prepare again so the code is fresh at
its start), and ``stats`` (the day's figures, fed with confirmed starts, ends and closings).
"""

from __future__ import annotations

from ..driver import Showable
from ..inspection.issuer import CodeSource, DayStats
from ..model import Site
from ..plan import Entry


class CodeHook:
    def __init__(self, source: CodeSource, screen_id: str) -> None:
        self.source = source
        self.screen_id = screen_id
        self.stats: DayStats = source.stats(screen_id)
        self._tried_at = float("-inf")  # when attach last ran for an anti-fraud item

    def attach(self, site: Site, s: Showable, at_mono: float, make: bool = True) -> Showable:
        """``s`` with its code; ``make`` False (the switch): only a code prepared ahead."""
        if s.anti_fraud and make:
            self._tried_at = self.source.clock.monotonic()
        return self.source.attach(site, self.screen_id, s, at_mono, make)

    def refresh_at(self, entry: Entry, start_mono: float) -> float:
        """inf unless ``entry`` is anti-fraud, wants a code, and the code prepared for it
        would be too old at ``start_mono``; then ``start_mono - LEAD_S``, until an attach at
        or after that instant was tried (so a failing attach cannot spin the runner)."""
        if not entry.anti_fraud or not self.source.wants_code(self.screen_id):
            return float("inf")
        t = self.source.refresh_at(self.screen_id, entry.item.id, start_mono)
        return t if self._tried_at < t else float("inf")


__all__ = ["CodeHook"]
