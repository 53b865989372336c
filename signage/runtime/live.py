"""The live table `signage run` shows in a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.markup import escape
from rich.table import Table

from ..render import sanitize
from .runner import ScreenRunner


def live_table(runners: Sequence[ScreenRunner], tz: ZoneInfo, title: str) -> Table:
    t = Table(title=escape(sanitize(title)), expand=False)
    for col in ("screen", "on screen", "since", "next anti-fraud in", "worst gap today", "state"):
        t.add_column(col)
    for r in runners:
        on = r.on
        if on is not None:
            text = on.item.text or on.item.path
            what = escape(f"{'★ ' if on.item.anti_fraud else ''}{on.item.id}: "
                          f"{sanitize(text)[:28]}")
            since = datetime.fromtimestamp(on.start_wall, tz).strftime("%H:%M:%S")
        else:
            upcoming = r.next
            opens = (datetime.fromtimestamp(upcoming.start_ms / 1000, tz).strftime("%m-%d %H:%M")
                     if upcoming is not None else "?")
            what, since = f"closed (opening hours); next showing {opens}", ""
        nxt = r.seconds_to_next_af()
        nxt_s = "on now" if nxt == 0.0 else (f"{nxt:.0f} s" if nxt is not None else "—")
        state = "up" if r.up else "[red]DOWN[/red]"
        t.add_row(r.screen.id, what, since, nxt_s, f"{r.worst_gap_today:.1f} s", state)
    return t
