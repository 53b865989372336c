"""The live table `signage run` shows in a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.markup import escape
from rich.table import Table

from ..i18n import _
from ..render import sanitize
from .runner import ScreenRunner


def live_table(runners: Sequence[ScreenRunner], tz: ZoneInfo, title: str) -> Table:
    t = Table(title=escape(sanitize(title)), expand=False)
    for col in (_("screen"), _("on screen"), _("since"), _("next anti-fraud in"),
                _("worst gap today"), _("state")):
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
            what, since = _("closed (opening hours); next showing {when}").format(
                when=opens), ""
        nxt = r.seconds_to_next_af()
        sec = _("{s} s")
        nxt_s = _("on now") if nxt == 0.0 else (sec.format(s=f"{nxt:.0f}") if nxt is not None
                                                else "—")
        state = _("up") if r.up else "[red]" + escape(_("DOWN")) + "[/red]"
        t.add_row(r.screen.id, what, since, nxt_s, sec.format(s=f"{r.worst_gap_today:.1f}"),
                  state)
    return t
