"""The runner's hook for the inspection code (signage/inspection/issuer.py): one per screen.

Kept apart from runner.py so that the runner carries only a few calls: ``attach`` (an
anti-fraud item gets the screen's current code), ``refresh_at`` (when to make it again, between
switches), and ``stats`` (the day's figures, fed with confirmed starts, ends and closings).
"""

from __future__ import annotations

from ..driver import Showable
from ..inspection.issuer import LEAD_S, REFRESH_S, CodeSource, DayStats
from ..model import Site
from ..plan import Entry


class CodeHook:
    def __init__(self, source: CodeSource, screen_id: str) -> None:
        self.source = source
        self.screen_id = screen_id
        self.stats: DayStats = source.stats(screen_id)
        self._tried_at = float("-inf")  # when a making attach last ran

    def attach(self, site: Site, s: Showable, at_mono: float, make: bool = True) -> Showable:
        """``s`` with the screen's code; ``make`` False (the switch): only a code made
        ahead; True (preparing the next item): the code is made again when due."""
        if make:
            self._tried_at = self.source.clock.monotonic()
        return self.source.attach(site, self.screen_id, s, at_mono, make)

    def refresh_at(self, entry: Entry, start_mono: float) -> float:
        """When the runner should prepare again: when the screen's code is due (every
        REFRESH_S, whatever plays next: an alert or a substitute may come at any time), or
        when the code would be too old at ``entry``'s start; never sooner than REFRESH_S
        after the last try (so a failing attach cannot spin the runner)."""
        t = self.source.refresh_at(self.screen_id)
        if entry.anti_fraud and self.source.wants_code(self.screen_id):
            made = self.source.made_at(self.screen_id)
            if made is not None and self.source.current(self.screen_id, start_mono) is None:
                t = min(t, start_mono - LEAD_S)
        return t if self._tried_at < t else self._tried_at + REFRESH_S


__all__ = ["CodeHook"]
