"""The campaign summary's content: a pure function of an audit result and the site's config.

Everything it states comes from the verified log through the audit (showings, airtime,
compliance, outages) or from the config (unit, contact person); the summary adds no number of
its own. Its verdict per screen is the audit's: no violation in the period and the log intact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..audit.model import AuditResult
from ..audit.output import Fmt, outage_rows, screen_rows
from ..config import SiteSection
from ..i18n import N_, _

OUTAGE_KINDS = {
    "screen_down": N_("screen down"),
    "daemon_not_running": N_("player not running"),
    "no_records": N_("no records (box off or log missing)"),
}


def fmt_duration(seconds: float) -> str:
    """3723 -> '1 h 02 min 03 s' in the current language."""
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return _("{h} h {m} min {s} s").format(h=h, m=f"{m:02d}", s=f"{sec:02d}")
    if m:
        return _("{m} min {s} s").format(m=m, s=f"{sec:02d}")
    return _("{s} s").format(s=f"{seconds:.1f}")


@dataclass
class Summary:
    unit: str
    site_name: str
    site_id: str
    contact: dict[str, str]
    period_from: str
    period_to: str
    tz: str
    rule: str
    intact: bool
    verdict: str
    screens: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    outages: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    #: how the log was verified, for the reader
    basis: str = ""


def build(result: AuditResult, site: SiteSection, *, self_checked: bool = False) -> Summary:
    """``self_checked``: a format-2 log verified with the box's own public key (the box
    checking itself), not with an inspector's trust file."""
    c = result.compliance
    f = Fmt(c.tz)
    screens = []
    for row in screen_rows(result):
        ok = result.integrity.intact and row["violations"] == 0
        screens.append({**row, "label": row["label"] or row["screen"],
                        "af_share_text": "—" if row["af_share"] is None
                        else f"{row['af_share']:.1%}",
                        "airtime": fmt_duration(row["af_s"]),
                        "compliant": ok,
                        "verdict": _("compliant") if ok else _("not compliant")})
    cats: dict[str, list[float]] = {}
    for it in c.items.values():
        entry = c.catalogue.get(it.item, {})
        if entry.get("anti_fraud") is False:
            continue
        key = it.category or _("uncategorised")
        acc = cats.setdefault(key, [0, 0.0])
        acc[0] += it.showings
        acc[1] += it.ms / 1000
    categories = [{"category": k, "showings": int(n), "seconds": round(s, 1),
                   "airtime": fmt_duration(s)}
                  for k, (n, s) in sorted(cats.items(), key=lambda kv: -kv[1][0])]
    outages = [{**o, "kind_text": _(OUTAGE_KINDS.get(o["kind"], o["kind"])),
                "length": fmt_duration(o["length_s"])} for o in outage_rows(result, f)]
    total_af = sum(r["af_showings"] for r in screens)
    total_s = sum(r["af_s"] for r in screens)
    verdict = (_("compliant: every screen kept the rule and the log is intact")
               if result.exit_code == 0 else
               _("violations found: see the screens below") if result.exit_code == 1 else
               _("partial log: its first record cannot be verified, so the log is not "
                 "intact; no violation in what could be verified") if result.exit_code == 5
               else
               _("the log's integrity is broken: this summary proves nothing"))
    return Summary(
        unit=site.unit or site.name, site_name=site.name, site_id=site.id,
        contact={"name": site.contact.name, "title": site.contact.title,
                 "phone": site.contact.phone},
        period_from=f.t(c.period[0])[:19].replace("T", " "),
        period_to=f.t(c.period[1])[:19].replace("T", " "), tz=c.tz,
        rule=_("at most {s} s between two anti-fraud showings ({measure})").format(
            s=f"{c.limit_ms / 1000:g}", measure=c.measure),
        intact=result.integrity.intact, verdict=verdict, screens=screens,
        categories=categories, outages=outages,
        basis=_("format-2 log verified with this box's own public key: a self-check; the "
                "inspector verifies it with their trust file") if self_checked else
        _("log verified with the site key (HMAC chain)"),
        totals={"showings": total_af, "airtime": fmt_duration(total_s),
                "screens": len(screens), "outages": len(outages)})
