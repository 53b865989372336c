"""`--report FILE.html`: one self-contained page for the inspector's file: the site, its
contact, the period, the verdict, the tables, an SVG timeline per screen with the violations
marked, and pictures of the slogans as the screens showed them (drawn by signage/render.py,
embedded as PNG data: URIs). Nothing is loaded from elsewhere; every text from the log is
escaped."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from datetime import date
from html import escape
from pathlib import Path
from typing import Any

from .. import render
from ..i18n import N_, _
from ..timeutil import fmt_duration
from .integrity import BREAKING
from .model import AuditResult, DayStat, Violation
from .output import (
    VERDICTS,
    Fmt,
    category_rows,
    day_coverage,
    days_of,
    item_rows,
    outage_rows,
    partial_text,
    screen_rows,
    violation_row,
)
from .signed import SignedReport

MAX_ROWS = 500  # per table
MAX_MARKS = 2000  # violation marks per screen chart
MAX_PICTURES = 60
THUMB_W = 560

CSS = """
body{font:14px/1.45 system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:2em;
color:#222;max-width:1200px}
h1{font-size:1.5em;margin:0 0 .2em}h2{margin-top:1.8em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;
text-align:left;vertical-align:top}th{background:#f2f2f2}td.n{text-align:right}
.verdict{display:inline-block;padding:.3em 1em;border-radius:4px;color:#fff;font-weight:bold}
.compliant{background:#2e7d32}.violations{background:#c62828}.integrity_broken{background:#000}
.simulated{background:#6a1b9a}.partial{background:#a15c00}.legend{font-size:12px}.swatch{display:inline-block;
width:12px;height:12px;border:1px solid #9e9e9e;margin:0 3px 0 10px;vertical-align:middle}
.banner{background:#6a1b9a;color:#fff;font-weight:bold;
padding:.8em 1em;border-radius:4px;margin:.5em 0}.banner.partial{background:#a15c00}
.bad{color:#c62828;font-weight:bold}.warn{color:#a15c00}.muted{color:#777}
figure{display:inline-block;margin:.5em;vertical-align:top}figcaption{font-size:12px}
svg text{font:11px sans-serif}dl{display:grid;grid-template-columns:max-content auto;
gap:2px 1em}dt{font-weight:bold}
"""


def _t(x: Any) -> str:
    return escape(render.sanitize(str(x)))


def _table(head: list[str], rows: Iterable[list[str]], total: int | None = None) -> str:
    out = ["<table><tr>", *(f"<th>{_t(h)}</th>" for h in head), "</tr>"]
    n = 0
    for row in rows:
        if n >= MAX_ROWS:
            break
        out.append("<tr>" + "".join(row) + "</tr>")
        n += 1
    out.append("</table>")
    if total is not None and total > n:
        out.append("<p class=muted>" + _t(_("… and {n} more (see --format json or csv)").format(
            n=f"{total - n:,}")) + "</p>")
    return "".join(out)


def _td(x: Any, cls: str = "") -> str:
    return f"<td class='{cls}'>{_t(x)}</td>" if cls else f"<td>{_t(x)}</td>"


def _png(img: Any) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _picture(text: str, width: int, height: int) -> str:
    if height <= 64:
        img = render.dot_matrix(render.render_bitmap(text, width, height))
    else:
        img = render.render_slide(text, width, height)
    if img.width > THUMB_W:
        img.thumbnail((THUMB_W, THUMB_W * img.height // img.width + 1))
    return _png(img)


def _pictures(r: AuditResult) -> str:
    c = r.compliance
    seen: dict[tuple[str, int, int], list[str]] = {}
    for it in sorted(c.items.values(), key=lambda i: -i.showings):
        entry = c.catalogue.get(it.item, {})
        text = entry.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        for sid in sorted(it.screens):
            scr = c.screens.get(sid, {})
            w, h = scr.get("width"), scr.get("height")
            if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
                seen.setdefault((it.item, w, h), []).append(sid)
    if not seen:
        return "<p class=muted>" + _t(_("No text slogans were shown.")) + "</p>"
    out = []
    for n, ((item, w, h), screens) in enumerate(seen.items()):
        if n >= MAX_PICTURES:
            out.append("<p class=muted>" + _t(_("… and {n} more.").format(n=len(seen) - n))
                       + "</p>")
            break
        text = str(c.catalogue[item]["text"])
        cap = _t(_("{item} on {screens} ({w}×{h})").format(item=item,
                                                            screens=", ".join(screens[:5]),
                                                            w=w, h=h))
        try:
            src = _picture(text, w, h)
        except Exception as exc:  # a missing font must not cost the report
            out.append(f"<figure><p class=warn>{_t(text)}</p><figcaption>{cap}: "
                       + _t(_("cannot draw ({error})").format(error=exc))
                       + "</figcaption></figure>")
            continue
        out.append(f"<figure><img alt='{_t(text)}' src='{src}'><figcaption>{cap}<br>"
                   f"{_t(text)}</figcaption></figure>")
    return "".join(out)


#: the chart's colours, each saying what happened in that hour (legend under every chart)
COLOURS = {
    "over": ("#e53935", N_("a gap over the limit")),
    "near": ("#ffb300", N_("a gap past the planned margin, within the limit")),
    "ok": ("#9ccc65", N_("gaps within the planned margin (max_gap − margin)")),
    "closed": ("#e6e6e6", N_("closed (outside opening hours)")),
    "unaudited": ("#ffffff", N_("not audited (outside the period or the screen's life)")),
}


def _state(gap: int, limit: int, planned: int, open_ms: int, audited_ms: int) -> str:
    """What happened in one hour of one screen's chart."""
    if open_ms <= 0:
        return "closed" if audited_ms > 0 else "unaudited"
    if gap > limit:
        return "over"
    if gap > planned:
        return "near"
    return "ok"


def _legend() -> str:
    out = ["<p class=legend>"]
    for key, (col, what) in COLOURS.items():
        out.append(f"<span class=swatch style='background:{col}' data-state='{key}'></span>"
                   f"{_t(_(what))} ")
    out.append("</p>")
    return "".join(out)


def _chart(sid: str, days: dict[date, DayStat], marks: list[Violation], limit: int,
           f: Fmt, planned: int | None = None) -> str:
    """Rows are days, columns the 24 hours; a cell's colour says what happened in that hour
    (COLOURS: over the limit, near it, within the planned margin, closed, not audited); red
    bars are the violations, to scale."""
    planned = limit if planned is None else planned
    if not days:
        return ""
    left, cw, rh = 84, 30, 16
    ds = sorted(days)
    width, height = left + 24 * cw + 4, 20 + rh * len(ds)
    label = _t(_("timeline of {screen}").format(screen=sid))
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           f"role='img' aria-label='{label}'>"]
    for h in range(0, 25, 3):
        out.append(f"<text x='{left + h * cw - 6}' y='12'>{h:02d}</text>")
    row = {d: i for i, d in enumerate(ds)}
    for d, i in row.items():
        st = days[d]
        y = 18 + i * rh
        out.append(f"<text x='0' y='{y + 12}'>{d.isoformat()}</text>")
        for h in range(24):
            state = _state(st.hours[h], limit, planned, st.open_hours[h],
                           st.audited_hours[h])
            col, what = COLOURS[state]
            tip = (_("{day} {hour}h: longest gap {s} s ({what})").format(
                day=d, hour=f"{h:02d}", s=f"{st.hours[h] / 1000:.1f}", what=_(what))
                if st.open_hours[h] else _("{day} {hour}h: {what}").format(
                    day=d, hour=f"{h:02d}", what=_(what)))
            edge = " stroke='#9e9e9e' stroke-dasharray='2,2'" if state == "unaudited" else ""
            out.append(f"<rect x='{left + h * cw}' y='{y}' width='{cw - 1}' height='{rh - 2}' "
                       f"fill='{col}'{edge} data-state='{state}'><title>{_t(tip)}</title>"
                       "</rect>")
    for v in marks:
        j = row.get(v.day)
        if j is None:
            continue
        day_start = v.start - _since_midnight(v.start, f)
        x0 = left + (v.start - day_start) / 3_600_000 * cw
        x1 = left + min(24.0, (v.end - day_start) / 3_600_000) * cw
        tip = (f"{f.t(v.start)} – {f.t(v.end)}: {v.length_ms / 1000:.1f} s "
               f"({', '.join(v.causes)})")
        out.append(f"<rect x='{x0:.1f}' y='{18 + j * rh + 3}' width='{max(2.0, x1 - x0):.1f}' "
                   f"height='{rh - 8}' fill='#7f0000'><title>{_t(tip)}</title></rect>")
    out.append("</svg>")
    out.append(_legend())
    return "".join(out)


def _since_midnight(ms: int, f: Fmt) -> int:
    from datetime import datetime

    dt = datetime.fromtimestamp(ms / 1000, f.tz)
    return ((dt.hour * 60 + dt.minute) * 60 + dt.second) * 1000 + dt.microsecond // 1000


def _signed(r: AuditResult, sr: SignedReport, f: Fmt) -> str:
    """Format 2: who vouched for the log and for which part of the audited time."""
    last = sr.last_signed
    out = ["<h2>" + _t(_("Signatures and witnesses")) + "</h2><dl>"]
    agree = sum(1 for w in sr.witnesses if w["status"] == "agrees")
    items = [(_("Checkpoints"), _("{n}, signed by key {keys}").format(
                n=f"{sr.checkpoints:,}", keys=", ".join(sr.keys) or "–")),
             (_("Signed up to"), _("{t} (seq {seq}, {key})").format(t=f.t(last[1]), seq=last[0],
                                                                    key=last[2]) if last
              else _("nothing verifies with a key of the trust file")),
             (_("Unsigned tail"), _("{n} records").format(n=f"{sr.unsigned_tail:,}")
              + (" " + _("since {t}").format(t=f.t(sr.unsigned_from))
                 if sr.unsigned_from is not None else "")),
             (_("Witnesses"), _("{agree} of {n} agree").format(agree=agree, n=len(sr.witnesses))
              if sr.witnesses else _("none given: a site manager with the box's key could have "
                                     "signed a fresh log for any period"))]
    for rot in sr.rotations:
        items.append((_("Key rotation"), _("seq {seq}: {old} → {new}").format(
            seq=rot["seq"], old=rot["from_key"], new=rot["to_key"])
                      + ("" if rot["verified"] else " " + _("(FORGED)"))))
    for k, v in items:
        out.append(f"<dt>{_t(k)}</dt><dd>{_t(v)}</dd>")
    out.append("</dl><p class=muted>" + _t(_(
        "Per day, how much of the audited time rests on a verified signature and on a "
        "witnessed checkpoint (the same for every screen).")) + "</p>")
    out.append(_table([_("day"), _("audited"), _("signed"), _("witnessed")], (
        [_td(d.isoformat()), _td(fmt_duration(cov["audited_s"]), "n"),
         _td(fmt_duration(cov["signed_s"]), "n"), _td(fmt_duration(cov["witnessed_s"]), "n")]
        for d in days_of(r) for cov in [day_coverage(sr, d, r.compliance.period, f)])))
    return "".join(out)


def build(r: AuditResult) -> str:
    c, i = r.compliance, r.integrity
    f = Fmt(c.tz)
    site = c.site or {}
    contact = site.get("contact") or {}
    p: list[str] = ["<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
                    "<title>" + _t(_("Audit — {site}").format(site=site.get("name", "")))
                    + f"</title><style>{CSS}</style></head><body>"]
    p.append("<h1>" + _t(_("Anti-fraud publicity audit: {site}").format(
        site=site.get("name", "?"))) + "</h1>")
    banner = r.simulated_banner()
    if banner:
        p.append(f"<div class='banner' id='simulated'>{_t(banner)}</div>")
    partial = partial_text(r)
    if partial:
        p.append(f"<div class='banner partial' id='partial'>{_t(partial)}</div>")
    p.append(f"<p><span class='verdict {r.verdict}'>{_t(_(VERDICTS[r.verdict]))}</span> "
             "<span class=muted>" + _t(_("exit code {code}").format(code=r.exit_code))
             + "</span></p><dl>")
    rule = _("at most {limit} s between anti-fraud showings ({measure}), {source}").format(
        limit=f"{c.limit_ms / 1000:g}", measure=c.measure,
        source=_("as recorded in the log") if c.limit_source == "log" else _("set by --max-gap"))
    log = _("{records} records in {files} files").format(records=f"{i.records:,}",
                                                         files=len(i.files))
    if i.head:
        log += "; " + _("chain head {head}").format(head=f"{i.head[0]}:{i.head[1]}:{i.head[2]}")
    for k, v in [(_("Site"), f"{site.get('name', '?')} ({site.get('id', '?')})"),
                 (_("Contact"), f"{contact.get('name', '?')}, {contact.get('phone', '?')}"),
                 (_("Period"), f"{f.t(c.period[0])} – {f.t(c.period[1])} ({c.tz})"),
                 (_("Rule"), rule), (_("Log"), log),
                 (_("Integrity"), _("intact") if i.intact
                  else _("PARTIAL, not intact: verified from seq {seq} on").format(
                      seq=i.verified_from) if i.partial
                  else _("BROKEN: the log cannot be trusted"))]:
        p.append(f"<dt>{_t(k)}</dt><dd>{_t(v)}</dd>")
    if i.anchor is not None:
        p.append("<dt>" + _t(_("Anchor")) + f"</dt><dd>{_t(i.anchor['message'])}</dd>")
    p.append("</dl>")
    if i.signed is not None:
        p.append(_signed(r, i.signed, f))
    if i.findings:
        p.append("<h2>" + _t(_("Integrity findings")) + "</h2>")
        p.append(_table(["", _("where"), _("finding")], (
            [f"<td class='{'bad' if x.breaks else 'warn'}'>{'✗' if x.breaks else '!'}</td>",
             _td(f"{x.file}:{x.line or ''} seq {x.seq if x.seq is not None else '–'}"),
             _td(x.message)] for x in i.findings),
            sum(n for k, n in i.counts.items()) if i.counts else None))
        if any(k in BREAKING for k in i.counts):
            p.append("<p class=bad>" + _t(_("Compliance figures below come from a log that "
                                            "failed verification.")) + "</p>")
    p.append("<h2>" + _t(_("Screens")) + "</h2>")
    p.append(_table([_("screen"), _("label"), _("size"), _("longest gap"), _("violations"),
                     _("AF showings"), _("AF share of opening time")], (
        [_td(s["screen"]), _td(s["label"] or ""), _td(f"{s['width']}×{s['height']}"),
         _td(fmt_duration(s["max_gap_s"]), "n bad" if s["violations"] else "n"),
         _td(s["violations"], "n bad" if s["violations"] else "n"),
         _td(f"{s['af_showings']:,}", "n"),
         _td("–" if s["af_share"] is None else f"{s['af_share']:.1%}", "n")]
        for s in screen_rows(r))))
    by_screen: dict[str, list[Violation]] = {}
    for v in r.violations:
        marks = by_screen.setdefault(v.screen, [])
        if len(marks) < MAX_MARKS:
            marks.append(v)
    p.append("<h2>" + _t(_("Timelines")) + "</h2><p class=muted>" + _t(_(
        "Each row is a day, each cell an hour, coloured by the longest gap in it (green: well "
        "within the rule, amber: within a fifth of the limit, red: over it, grey: closed); "
        "dark bars are the violations.")) + "</p>")
    for sid in c.screens:
        p.append(f"<h3>{_t(sid)}</h3>")
        p.append(_chart(sid, c.days.get(sid, {}), by_screen.get(sid, []), c.limit_ms, f,
                        c.planned_ms))
    if c.violations:
        p.append("<h2>" + _t(_("Violations ({n})").format(n=f"{c.violations:,}")) + "</h2>")
        p.append(_table([_("screen"), _("start"), _("end"), _("length"), _("limit"),
                         _("cause"), _("flags")], (
            [_td(row["screen"]), _td(row["start"]), _td(row["end"]),
             _td(fmt_duration(row["length_s"]), "n"), _td(f"{row['limit_s']:g} s", "n"),
             _td(", ".join(row["causes"])), _td(", ".join(row["flags"]))]
            for row in (violation_row(v, f) for v in r.violations)), c.violations))
    if c.outages:
        p.append("<h2>" + _t(_("Outages ({n})").format(n=f"{len(c.outages):,}")) + "</h2>")
        p.append(_table([_("kind"), _("screen"), _("start"), _("end"), _("length"),
                         _("reason")], (
            [_td(o["kind"]), _td(o["screen"] or "–"), _td(o["start"]), _td(o["end"]),
             _td(fmt_duration(o["length_s"]), "n"), _td(o["reason"])]
            for o in outage_rows(r, f)), len(c.outages)))
    p.append("<h2>" + _t(_("Anti-fraud showings")) + "</h2>")
    p.append(_table([_("category"), _("showings"), _("airtime")], (
        [_td(x["category"] or "–"), _td(f"{x['showings']:,}", "n"),
         _td(fmt_duration(x["seconds"]), "n")] for x in category_rows(r))))
    items = item_rows(r)
    p.append(_table([_("item"), _("category"), _("text"), _("showings"), _("airtime"),
                     _("screens")], (
        [_td(x["item"]), _td(x["category"] or "–"), _td(x["text"] or ""),
         _td(f"{x['showings']:,}", "n"), _td(fmt_duration(x["seconds"]), "n"),
         _td(", ".join(x["screens"][:8]) + (" …" if len(x["screens"]) > 8 else ""))]
        for x in items), len(items)))
    p.append("<h2>" + _t(_("The slogans as shown")) + "</h2>" + _pictures(r))
    if c.clock_steps:
        p.append("<h2>" + _t(_("Clock steps")) + "</h2>")
        p.append(_table([_("at"), _("step"), _("seen in")], (
            [_td(f.t(s["at"])), _td(f"{s['step_s']:+.3f} s", "n"), _td(s["source"])]
            for s in c.clock_steps), len(c.clock_steps)))
    if c.warnings:
        p.append("<h2>" + _t(_("Warnings")) + "</h2><ul>"
                 + "".join(f"<li>{_t(w)}</li>" for w in c.warnings[:200]) + "</ul>")
    p.append("<p class=muted>" + _t(_("Made by signage audit. Times are in the site's "
                                      "timezone; gap lengths are measured on the monotonic "
                                      "clock within a boot.")) + "</p></body></html>")
    return "".join(p)


def write_report(result: AuditResult, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(build(result), encoding="utf-8")
    tmp.replace(path)
