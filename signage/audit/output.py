"""The audit's outputs for people (a rich table) and tools (JSON, CSV). The JSON and CSV
shapes are a contract, documented in docs/log-format.md ("Audit output (JSON and CSV)")."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO
from zoneinfo import ZoneInfo

from ..i18n import N_, _, ngettext
from ..sanitize import sanitize
from ..timeutil import fmt_duration
from .integrity import BREAKING
from .model import AuditResult, Violation
from .signed import SignedReport, covered_ms

if TYPE_CHECKING:
    from rich.console import Console

JSON_VERSION = 1
CSV_COLUMNS = ("screen", "day", "start", "end", "length_s", "limit_s", "cause", "causes",
               "flags")
#: format 2: what each violation's span rests on (yes / partly / no)
CSV_SIGNED = ("signed", "witnessed")


class Fmt:
    """Times in the site's timezone, seconds with 3 decimals."""

    def __init__(self, tz: str) -> None:
        try:
            self.tz = ZoneInfo(tz)
        except (ValueError, KeyError):
            self.tz = ZoneInfo("UTC")

    def t(self, ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, self.tz).isoformat(timespec="milliseconds")

    @staticmethod
    def s(ms: int) -> float:
        return round(ms / 1000, 3)


def _share(af: int, open_ms: int) -> float | None:
    return round(af / open_ms, 4) if open_ms > 0 else None


def screen_rows(r: AuditResult) -> list[dict[str, Any]]:
    c = r.compliance
    rows = []
    for sid, entry in c.screens.items():
        days = c.days.get(sid, {}).values()
        af = sum(d.af_ms for d in days)
        op = sum(d.open_ms for d in days)
        rows.append({
            "screen": sid, "label": entry.get("label", ""), "width": entry.get("width"),
            "height": entry.get("height"), "max_gap_s": Fmt.s(c.max_gap_ms(sid)),
            "violations": sum(d.violations for d in days),
            "violation_s": Fmt.s(sum(d.violation_ms for d in days)),
            "af_showings": sum(d.af_showings for d in days), "af_s": Fmt.s(af),
            "open_s": Fmt.s(op), "af_share": _share(af, op)})
    return rows


def day_rows(r: AuditResult) -> Iterator[dict[str, Any]]:
    c = r.compliance
    sr: SignedReport | None = r.integrity.signed
    f = Fmt(c.tz)
    for sid in c.screens:
        for day, d in sorted(c.days.get(sid, {}).items()):
            row = {"screen": sid, "day": day.isoformat(), "open_s": Fmt.s(d.open_ms),
                   "af_s": Fmt.s(d.af_ms), "af_share": _share(d.af_ms, d.open_ms),
                   "af_showings": d.af_showings, "max_gap_s": Fmt.s(d.max_gap_ms),
                   "violations": d.violations, "violation_s": Fmt.s(d.violation_ms)}
            if sr is not None:
                row.update(day_coverage(sr, day, c.period, f))
            yield row


def day_bounds(day: date, period: tuple[int, int], f: Fmt) -> tuple[int, int]:
    """The audited part of a local day, epoch ms."""
    a = int(datetime(day.year, day.month, day.day, tzinfo=f.tz).timestamp() * 1000)
    nxt = day + timedelta(days=1)
    b = int(datetime(nxt.year, nxt.month, nxt.day, tzinfo=f.tz).timestamp() * 1000)
    return max(a, period[0]), min(b, period[1])


def day_coverage(sr: SignedReport, day: date, period: tuple[int, int], f: Fmt,
                 ) -> dict[str, Any]:
    """Format 2: how much of a day's audited time rests on a signature, on a witness."""
    a, b = day_bounds(day, period, f)
    total = max(0, b - a)
    return {"audited_s": Fmt.s(total),
            "signed_s": Fmt.s(covered_ms(sr.signed_spans, a, b)),
            "witnessed_s": Fmt.s(covered_ms(sr.witnessed_spans, a, b))}


def days_of(r: AuditResult) -> list[date]:
    c = r.compliance
    return sorted({d for per in c.days.values() for d in per})


def rests_on(spans: list[tuple[int, int]], a: int, b: int) -> str:
    """yes / partly / no: whether [a, b] lies within the spans."""
    if b <= a:
        return "yes" if any(x <= a <= y for x, y in spans) else "no"
    got = covered_ms(spans, a, b)
    return "yes" if got >= b - a else "partly" if got > 0 else "no"


def signed_doc(sr: SignedReport, f: Fmt) -> dict[str, Any]:
    last = sr.last_signed
    return {
        "checkpoints": sr.checkpoints, "signatures_verified": sr.verified, "keys": sr.keys,
        "rotations": sr.rotations,
        "last_signed": None if last is None else {"seq": last[0], "wall": f.t(last[1]),
                                                  "file": last[2]},
        "signed": [{"from": f.t(a), "to": f.t(b)} for a, b in sr.signed_spans],
        "witnessed": [{"from": f.t(a), "to": f.t(b)} for a, b in sr.witnessed_spans],
        "unsigned_tail": {"records": sr.unsigned_tail,
                          "since": None if sr.unsigned_from is None else f.t(sr.unsigned_from)},
        "witnesses": sr.witnesses,
    }


def violation_row(v: Violation, f: Fmt) -> dict[str, Any]:
    return {"screen": v.screen, "day": v.day.isoformat(), "start": f.t(v.start),
            "end": f.t(v.end), "length_s": Fmt.s(v.length_ms), "limit_s": Fmt.s(v.limit_ms),
            "cause": v.cause, "causes": list(v.causes), "flags": list(v.flags)}


def outage_rows(r: AuditResult, f: Fmt) -> list[dict[str, Any]]:
    return [{"kind": o.kind, "screen": o.screen, "start": f.t(o.start), "end": f.t(o.end),
             "length_s": Fmt.s(o.end - o.start), "reason": o.reason}
            for o in r.compliance.outages]


def item_rows(r: AuditResult) -> list[dict[str, Any]]:
    c = r.compliance
    rows = []
    for it in sorted(c.items.values(), key=lambda i: (-i.showings, i.item)):
        text = c.catalogue.get(it.item, {}).get("text")
        rows.append({"item": it.item, "category": it.category, "text": text,
                     "showings": it.showings, "seconds": Fmt.s(it.ms),
                     "screens": sorted(it.screens)})
    return rows


def alert_rows(r: AuditResult, f: Fmt) -> list[dict[str, Any]]:
    """Urgent alerts (category 预警) shown, per screen and alert."""
    return [{"screen": a.screen, "item": a.item, "showings": a.showings,
             "seconds": Fmt.s(a.ms), "first": f.t(a.first), "last": f.t(a.last)}
            for a in sorted(r.compliance.alerts.values(), key=lambda a: (a.screen, a.first))]


def category_rows(r: AuditResult) -> list[dict[str, Any]]:
    cats: dict[str | None, list[int]] = {}
    for it in r.compliance.items.values():
        acc = cats.setdefault(it.category, [0, 0])
        acc[0] += it.showings
        acc[1] += it.ms
    return [{"category": k, "showings": n, "seconds": Fmt.s(ms)}
            for k, (n, ms) in sorted(cats.items(), key=lambda kv: (-kv[1][0], str(kv[0])))]


def head(r: AuditResult, f: Fmt) -> dict[str, Any]:
    c, i = r.compliance, r.integrity
    return {
        "audit_format": JSON_VERSION, "verdict": r.verdict, "exit_code": r.exit_code,
        "simulated": None if not c.simulated_runs else {
            "banner": r.simulated_banner(), "real_runs": c.real_runs,
            "runs": [{"run": run, "from": f.t(at)} for run, at in c.simulated_runs]},
        "site": c.site,
        "period": {"from": f.t(c.period[0]), "to": f.t(c.period[1]), "tz": c.tz},
        "rule": {"max_gap_s": Fmt.s(c.limit_ms), "measure": c.measure,
                 "source": c.limit_source},
        "integrity": {
            "intact": i.intact, "state": i.state, "partial": partial_doc(r),
            "records": i.records, "wrong_key": i.wrong_key,
            "head": None if i.head is None else dict(zip(("file", "seq", "mac"), i.head,
                                                         strict=True)),
            "anchor": i.anchor,
            "unverified": i.unverified,
            "files": [{"name": x.name, "compressed": x.compressed, "bytes": x.bytes,
                       "records": x.records, "first_seq": x.first_seq, "last_seq": x.last_seq,
                       "sealed": x.sealed, "torn_tail": x.torn} for x in i.files],
            "findings": [{"kind": x.kind, "breaks": x.breaks, "file": x.file, "line": x.line,
                          "seq": x.seq, "message": x.message} for x in i.findings],
            "finding_counts": dict(sorted(i.counts.items())),
            "format_versions": i.versions,
            "signatures": None if i.signed is None else signed_doc(i.signed, f),
        },
        "yardstick": c.yardstick,
        "config_changes": [{**x, "at": f.t(x["at"])} for x in c.config_changes],
    }


def partial_text(r: AuditResult) -> str | None:
    """What a partial log's audit could not verify, in one sentence (every output says it)."""
    i = r.integrity
    if not i.partial:
        return None
    u = i.unverified[0] if i.unverified else None
    first = (_("the first record ({file}:{line}, seq {seq}, a {type})").format(
        file=u["file"], line=u["line"], seq=u["seq"], type=u["type"]) if u is not None
        else _("the first record"))
    return _("PARTIAL LOG, NOT INTACT: the log given starts after seq 0 (older files removed "
             "or not given); {first} cannot be verified and was not used; the log is verified "
             "from seq {next} on only. Nothing before seq {next} is proven").format(
                 first=first, next=i.verified_from)


def partial_doc(r: AuditResult) -> dict[str, Any] | None:
    i = r.integrity
    if not i.partial:
        return None
    return {"verified_from_seq": i.verified_from, "unverified": i.unverified,
            "message": partial_text(r)}


def write_json(r: AuditResult, out: TextIO) -> None:
    """One JSON object; the violations are streamed (there may be very many)."""
    f = Fmt(r.compliance.tz)
    doc = head(r, f)
    doc["screens"] = screen_rows(r)
    doc["days"] = list(day_rows(r))
    body = json.dumps(doc, ensure_ascii=False, indent=1)
    out.write(body[:-2] + ',\n "violations": [')
    for n, v in enumerate(r.violations):
        out.write(("," if n else "") + "\n  " + json.dumps(violation_row(v, f),
                                                         ensure_ascii=False))
    rest = {"outages": outage_rows(r, f), "items": item_rows(r),
            "categories": category_rows(r), "alerts": alert_rows(r, f),
            "clock_steps": [{"at": f.t(s["at"]), "step_s": s["step_s"], "source": s["source"]}
                            for s in r.compliance.clock_steps],
            "warnings": r.compliance.warnings}
    tail = json.dumps(rest, ensure_ascii=False, indent=1)
    out.write("\n ],\n" + tail[2:] + "\n")


def write_csv(r: AuditResult, out: TextIO) -> None:
    """The violations, one per row (the full result is in the JSON output)."""
    f = Fmt(r.compliance.tz)
    banner = r.simulated_banner()
    if banner:  # a comment line before the header, only then (docs/log-format.md)
        out.write("# " + banner.replace("\n", " ") + "\n")
    partial = partial_text(r)
    if partial:  # likewise for a partial log: its violations rest on verified records only
        out.write("# " + sanitize(partial).replace("\n", " ") + "\n")
    w = csv.writer(out, lineterminator="\n")
    sr: SignedReport | None = r.integrity.signed
    w.writerow(CSV_COLUMNS + (CSV_SIGNED if sr is not None else ()))
    for v in r.violations:
        row = violation_row(v, f)
        cells = [row["screen"], row["day"], row["start"], row["end"], row["length_s"],
                 row["limit_s"], row["cause"], "+".join(row["causes"]), "+".join(row["flags"])]
        if sr is not None:
            cells += [rests_on(sr.signed_spans, v.start, v.end),
                      rests_on(sr.witnessed_spans, v.start, v.end)]
        w.writerow(cells)


def _lit(text: object) -> str:
    """Log or site text (names, ids, categories, reasons, messages) as rich markup that shows
    it literally: `[red]` or `[/]` in a site name is text, never a style (or a crash)."""
    from rich.markup import escape

    return escape(sanitize(str(text)))


def _dur(seconds: float) -> str:
    return fmt_duration(seconds)


VERDICTS = {"compliant": N_("compliant"), "violations": N_("violations"),
            "integrity_broken": N_("integrity broken"), "simulated": N_("simulated"),
            "partial": N_("partial log (not intact)")}


def write_signed(r: AuditResult, sr: SignedReport, con: Console, f: Fmt) -> None:
    """Format 2: who vouched for the log, and for which part of the audited time."""
    from rich.markup import escape  # (rich only for the table)
    from rich.table import Table

    s = _lit
    last = sr.last_signed
    keys = ", ".join(sr.keys) or _("none")
    con.print(escape(_("signatures: {n} checkpoints by key {keys}; ")).format(
        n=f"{sr.checkpoints:,}", keys=s(keys))
              + (escape(_("signed up to {t} (seq {seq})").format(t=f.t(last[1]), seq=last[0]))
                 if last else "[red]" + escape(_("nothing verifies")) + "[/]"),
              highlight=False)
    for rot in sr.rotations:
        con.print("  " + escape(_("key rotation at seq {seq}: {old} → {new}")).format(
            seq=rot["seq"], old=s(rot["from_key"]), new=s(rot["to_key"]))
                  + ("" if rot["verified"] else " [red]" + escape(_("(forged)")) + "[/]"),
                  highlight=False)
    if sr.unsigned_tail:
        since = (" " + _("since {t}").format(t=f.t(sr.unsigned_from))
                 if sr.unsigned_from is not None else "")
        con.print("  [yellow]" + escape(_("unsigned tail:")) + "[/] " + escape(_(
            "{n} records{since}: only the chain vouches for them (anyone could have written "
            "them)").format(n=f"{sr.unsigned_tail:,}", since=since)), highlight=False)
    agree = sum(1 for w in sr.witnesses if w["status"] == "agrees")
    if sr.witnesses:
        con.print("  " + escape(_("witnesses: {agree} of {n} agree").format(
            agree=agree, n=len(sr.witnesses)))
                  + (escape(_("; witnessed up to {t}").format(t=f.t(sr.witnessed_spans[-1][1])))
                     if sr.witnessed_spans else ""), highlight=False)
    else:
        con.print("  " + escape(_("witnesses: none given (a site manager with the box's key "
                                  "could have signed a fresh log for any period; see "
                                  "docs/security.md)")), highlight=False)
    t = Table(title=_("What the audited time rests on (per day; the same for every screen)"),
              title_justify="left")
    for col, right in ((_("day"), False), (_("audited"), True), (_("signed"), True),
                       (_("witnessed"), True)):
        t.add_column(col, justify="right" if right else "left")
    for day in days_of(r):
        cov = day_coverage(sr, day, r.compliance.period, f)
        t.add_row(day.isoformat(), _dur(cov["audited_s"]), _dur(cov["signed_s"]),
                  _dur(cov["witnessed_s"]))
    con.print(t)


def write_table(r: AuditResult, con: Console, limit: int = 50) -> None:
    from rich.markup import escape  # (rich only for the table)
    from rich.table import Table

    c, i = r.compliance, r.integrity
    f = Fmt(c.tz)
    site = c.site or {}
    contact = site.get("contact") or {}
    s = _lit
    banner = r.simulated_banner()
    if banner:
        con.print(f"[bold white on magenta] {s(banner)} [/]", highlight=False)
    con.print("[bold]" + escape(_("Audit of {site}")).format(site=s(str(site.get("name", "?"))))
              + f"[/] ({s(str(site.get('id', '?')))})  "
              + escape(_("contact: {name} {phone}")).format(
                  name=s(str(contact.get("name", "?"))), phone=s(str(contact.get("phone", "")))))
    src = {"log": _("from the log"), "profile": _("from the registered profile")}.get(
        c.limit_source, _("set by --max-gap"))
    con.print(escape(_("period {start} – {end} ({tz}); rule: at most {limit} s between "
                       "anti-fraud showings, {measure} ({source})")).format(
                  start=f.t(c.period[0]), end=f.t(c.period[1]), tz=s(c.tz),
                  limit=f"{c.limit_ms / 1000:g}", measure=s(c.measure), source=escape(src)),
              highlight=False)
    if c.config_changes:
        prof = c.yardstick == "profile"
        t = Table(title=_("Differences from the registered profile") if prof else
                  _("Changes of hours, rule or screens in the log"), title_justify="left")
        for col in ("at", "seq", "what", "log" if prof else "before",
                    "profile" if prof else "after", "effect"):
            t.add_column(col)
        for ch in c.config_changes[:limit]:
            t.add_row(f.t(ch["at"]), str(ch["seq"]), s(ch["what"]),
                      s(ch.get("log", ch.get("before", ""))),
                      s(ch.get("profile", ch.get("after", ""))), s(ch["effect"]))
        con.print(t)
    files = len(i.files)
    if i.partial:
        u = i.unverified[0] if i.unverified else {"file": "?", "line": 1,
                                                   "seq": (i.verified_from or 1) - 1}
        con.print(escape(_("integrity:")) + " [bold yellow]" + escape(_("PARTIAL, not intact"))
                  + "[/] — " + _("[yellow]verified from seq {next} on[/] — the first record "
                                 "({file}:{line}, seq {seq}) cannot be verified and was not "
                                 "used; {n} records verified in {files} files").format(
                        next=i.verified_from, file=s(u["file"]), line=u["line"], seq=u["seq"],
                        n=f"{i.records - 1:,}", files=files), highlight=False)
    elif i.intact:
        head = (_(", head {file}:{seq}").format(file=i.head[0], seq=i.head[1])
                if i.head else "")
        con.print(escape(_("integrity:")) + " [green]" + escape(_("intact")) + "[/] — "
                  + escape(ngettext("{records} records in {files} file",
                                    "{records} records in {files} files", files).format(
                                        records=f"{i.records:,}", files=files))
                  + s(head))
    else:
        n = sum(v for k, v in i.counts.items() if k in BREAKING)
        con.print(escape(_("integrity:")) + " [bold red]" + escape(_("BROKEN")) + "[/] — "
                  + escape(ngettext("{n} problem in {records} records; the log cannot be "
                                    "trusted", "{n} problems in {records} records; the log "
                                    "cannot be trusted", n).format(n=n,
                                                                    records=f"{i.records:,}")))
    for x in i.findings[:limit]:
        con.print(("  [red]✗[/] " if x.breaks else "  [yellow]![/] ") + s(x.text()),
                  highlight=False)
    if len(i.findings) > limit:
        con.print("  " + escape(_("… and {n} more (see --format json)").format(
            n=len(i.findings) - limit)))
    if i.versions:
        con.print(escape(_("log format: {versions}").format(
            versions=", ".join(f"v{v}" for v in i.versions)))
                  + (escape(_(" (HMAC chain under the site key: whoever holds the key could "
                              "have written it)")) if i.signed is None else ""),
                  highlight=False)
    if i.signed is not None:
        write_signed(r, i.signed, con, f)
    t = Table(title=_("Screens"), title_justify="left")
    for col, right in ((_("screen"), False), (_("label"), False), (_("max gap"), True),
                       (_("violations"), True), (_("AF showings"), True), (_("AF share"), True)):
        t.add_column(col, justify="right" if right else "left")
    for row in screen_rows(r):
        share = row["af_share"]
        bad = row["violations"] > 0
        t.add_row(s(row["screen"]), s(str(row["label"] or "")),
                  ("[red]" if bad else "") + _dur(row["max_gap_s"]),
                  ("[red]" if bad else "") + str(row["violations"]),
                  f"{row['af_showings']:,}", "–" if share is None else f"{share:.1%}")
    con.print(t)
    if c.violations:
        t = Table(title=_("Violations ({n})").format(n=f"{c.violations:,}"),
                  title_justify="left")
        for col in (_("screen"), _("start"), _("end"), _("length"), _("cause")):
            t.add_column(col)
        for n, v in enumerate(r.violations):
            if n >= limit:
                break
            flags = f" ({', '.join(v.flags)})" if v.flags else ""
            t.add_row(s(v.screen), f.t(v.start), f.t(v.end), _dur(v.length_ms / 1000),
                      s(", ".join(v.causes) + flags))
        con.print(t)
        if c.violations > limit:
            con.print(escape(_("… and {n} more (see --format json or csv)").format(
                n=f"{c.violations - limit:,}")))
    if c.outages:
        t = Table(title=_("Outages ({n})").format(n=len(c.outages)), title_justify="left")
        for col in (_("kind"), _("screen"), _("start"), _("end"), _("length"), _("reason")):
            t.add_column(col)
        for o in c.outages[:limit]:
            t.add_row(s(o.kind), s(o.screen or "–"), f.t(o.start), f.t(o.end),
                      _dur((o.end - o.start) / 1000), s(o.reason))
        con.print(t)
    cats = category_rows(r)
    if cats:
        t = Table(title=_("Anti-fraud showings per category"), title_justify="left")
        t.add_column(_("category"))
        t.add_column(_("showings"), justify="right")
        t.add_column(_("airtime"), justify="right")
        for row in cats:
            t.add_row(s(str(row["category"] or "–")), f"{row['showings']:,}",
                      _dur(row["seconds"]))
        con.print(t)
    alerts = alert_rows(r, f)
    if alerts:
        t = Table(title=_("Urgent alerts (预警) shown, per screen"), title_justify="left")
        for col in ("screen", "alert", "showings", "airtime", "first", "last"):
            t.add_column(col, justify="right" if col in ("showings", "airtime") else "left")
        for row in alerts[:limit * 4]:
            t.add_row(s(row["screen"]), s(row["item"]), f"{row['showings']:,}",
                      _dur(row["seconds"]), row["first"], row["last"])
        con.print(t)
    for w in c.warnings[:limit]:
        con.print("[yellow]" + escape(_("warning:")) + "[/] " + s(w), highlight=False)
    if banner:
        con.print(f"[bold white on magenta] {s(banner)} [/]", highlight=False)
    colour = {"compliant": "green", "violations": "red", "integrity_broken": "bold red",
              "simulated": "bold magenta", "partial": "bold yellow"}
    partial = partial_text(r)
    if partial:
        con.print("[bold yellow]" + s(partial) + "[/]", highlight=False)
    con.print(escape(_("verdict:")) + f" [{colour[r.verdict]}]"
              + escape(_(VERDICTS[r.verdict])) + "[/] "
              + escape(_("(exit {code})").format(code=r.exit_code)))
