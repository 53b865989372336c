"""What `signage run` prints when stdout is not a terminal (a pipe, a log file, systemd's
journal): one line per switch and one when a screen closes, with its opening time, so that
the main job is visibly at work at any hour."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from ..i18n import _
from ..render import sanitize
from .runner import ScreenRunner


class PlainLog:
    """Call ``tick()`` now and then (the daemon's loop does, every 0.25 s): it prints what
    changed on each screen since the last call."""

    def __init__(self, runners: Sequence[ScreenRunner], tz: ZoneInfo,
                 write: Callable[[str], None] | None = None) -> None:
        self.runners = runners
        self.tz = tz
        self._write = write or (lambda line: print(line, file=sys.stdout, flush=True))
        self._last: dict[str, object] = {}

    def _t(self, wall: float) -> str:
        return datetime.fromtimestamp(wall, self.tz).strftime("%H:%M:%S")

    def tick(self) -> None:
        for r in self.runners:
            sid = r.screen.id
            on = r.on
            if on is not None:
                key: object = (on.item.id, on.start_wall)
                if self._last.get(sid) == key:
                    continue
                self._last[sid] = key
                text = sanitize(on.item.text or on.item.path)
                star = "★ " if on.item.anti_fraud else ""
                self._write(f"{self._t(on.start_wall)} {sid}: {star}{on.item.id}: {text[:60]}")
                continue
            upcoming = r.next
            if upcoming is None:  # not started yet (or no open day ahead): nothing to say
                continue
            key = ("closed", upcoming.start_ms)
            if self._last.get(sid) == key:
                continue
            self._last[sid] = key
            opens = datetime.fromtimestamp(upcoming.start_ms / 1000, self.tz).strftime(
                "%Y-%m-%d %H:%M")
            now = datetime.now(self.tz).timestamp()
            self._write(_("{t} {screen}: closed (opening hours), blank until {opens}").format(
                t=self._t(now), screen=sid, opens=opens))
