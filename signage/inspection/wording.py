"""The words people read about a signed statement's figures, shared by `signage inspect`
(inspection/cli.py) and the hub's scan page (inspection/web.py); each adds its own findings
and verdict. Every text goes through signage.i18n._."""

from __future__ import annotations

from ..i18n import _
from .statement import Statement


def statement_lines(st: Statement, when: str, *, key: bool) -> list[str]:
    """The statement's figures as lines, ``when`` its time as the caller shows it; with
    ``key``, the signing key's id too."""
    lines = [
        _("site {site}, screen {screen}").format(site=st.site, screen=st.screen),
        _("stated at {when}").format(when=when),
        _("opening hours: {state}").format(state=_("open") if st.open_now else _("closed")),
        _("anti-fraud showings today: {n}").format(n=st.af_today),
        _("worst gap today in open time: {s:.1f} s").format(s=st.worst_gap_ms / 1000),
        _("log chain: seq {seq}, head {head}…").format(seq=st.seq, head=st.head.hex()),
    ]
    if key:
        lines.append(_("signing key: {key}").format(key=st.key_id))
    if st.partial:
        lines.append(_("today's figures count only since the player started today"))
    return lines
