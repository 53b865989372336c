"""How people read the refusal codes of alerts and pushed playlists (docs/alerts.md).

The code (`other_region`, `replay`, ...) is a documented value: the proof log, the inbox's
results files, the fleet link and every `--format json` keep it as it is. Tables and messages
show :func:`label` instead: the code itself is the msgid, so English shows the code and the
catalogue gives zh-CN a phrase a shop or police clerk reads.
"""

from __future__ import annotations

from ..i18n import N_, _

#: every refusal code of alert_received and publication (docs/log-format.md), and the
#: received column's "yes"/"no" of `signage hub alerts`
CODES = frozenset({
    N_("accepted"), N_("unsigned"), N_("malformed"), N_("too_large"), N_("unknown_key"),
    N_("forged"), N_("invalid"), N_("duplicate"), N_("other_region"),
    N_("drill_not_configured"), N_("expired"), N_("cancelled"), N_("superseded"),
    N_("unreadable"), N_("media"), N_("unversioned"), N_("replay"), N_("yes"), N_("no"),
})


def label(code: str) -> str:
    """The code as people read it in the language in force; an unknown code as it is."""
    return _(code) if code in CODES else code
