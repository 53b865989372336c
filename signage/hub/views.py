"""Fleet views: `signage hub status` (from what the hub stored) and `signage hub audit`.

The audit's verdict for a site is the verdict of `signage audit` itself, run on the hub's
byte-identical copy with the site's key (one verifier, one set of rules: the two can never
disagree). The fleet figures (showings, anti-fraud time, worst gap between anti-fraud showings
per screen and day) come from DuckDB over the Parquet dataset of verified showings.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from ..i18n import _, language
from .config import LoadedHub, site_dirs
from .ingest import read_refused

DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def status_rows(hub: LoadedHub, now: float | None = None,
                silent_after_s: float | None = None) -> list[dict[str, Any]]:
    """Per site: last heard (its last status or log), whether it is silent (and whether that
    is in opening hours, by its last status), rejections, each screen."""
    now = time.time() if now is None else now
    limit = hub.cfg.silent_after_s if silent_after_s is None else silent_after_s
    rows: list[dict[str, Any]] = []
    for d in site_dirs(hub.data_dir):
        st: dict[str, Any] = {}
        p = d / "status.json"
        if p.exists():
            try:
                st = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                st = {}
        heard = p.stat().st_mtime if p.exists() else None
        logs = sorted(d.glob("signage-*.jsonl"), key=lambda x: x.stat().st_mtime)
        if logs and (heard is None or logs[-1].stat().st_mtime > heard):
            heard = logs[-1].stat().st_mtime
        rej = d / "rejected.jsonl"
        silent = heard is None or now - heard > limit
        screens = st.get("screens") if isinstance(st.get("screens"), dict) else {}
        assert isinstance(screens, dict)
        rows.append({
            "site": d.name,
            "last_heard": (datetime.fromtimestamp(heard).astimezone().isoformat(
                timespec="seconds") if heard else None),
            "silent": silent,
            "open_now": any(isinstance(s, dict) and s.get("open") for s in screens.values()),
            # silent in opening hours (or with no status to tell)
            "silent_open": silent and (not screens or any(
                isinstance(s, dict) and s.get("open") for s in screens.values())),
            "rejected": sum(1 for _ in rej.open(encoding="utf-8")) if rej.exists() else 0,
            "screens": [{"screen": k, "up": v.get("up"), "item": v.get("item"),
                         "worst_gap_today_s": v.get("worst_gap_today_s"),
                         "next_af_s": v.get("next_af_s")}
                        for k, v in sorted(screens.items()) if isinstance(v, dict)],
            "registered": True,
        })
    return rows


def refused_rows(hub: LoadedHub) -> list[dict[str, Any]]:
    """The sites whose messages the hub refused because they are not registered (nothing of
    them is stored): the site (or "(others)" past the tally's limit), messages, the last
    time and reason."""
    return [{"site": k, "registered": False, "refused_messages": v["messages"],
             "last_refused": v["last"], "reason": v["reason"]}
            for k, v in read_refused(hub.data_dir).items()]


def figures(hub: LoadedHub, day_from: str, day_to: str,
            sites: list[str] | None = None) -> list[dict[str, Any]]:
    """Per site, screen and day (local dates, inclusive), from the Parquet dataset: verified
    anti-fraud showings (completed or cut short, longer than 0 s), their seconds, and the
    longest interval between two consecutive ones (end to start, same run and boot, within
    the day); the rows are what the boxes proved, the verdict is the audit's."""
    import duckdb

    root = hub.data_dir / "showings"
    days = sorted(p.name[5:] for p in root.glob("date=*") if DAY_RE.match(p.name[5:])
                  and day_from <= p.name[5:] <= day_to) if root.is_dir() else []
    con = duckdb.connect()
    # one day at a time: the sort behind the window stays a day's size (memory, time)
    con.execute("SET threads TO 2")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET memory_limit = '1GB'")
    where, params = "", []
    if sites:
        where = f"AND site IN ({', '.join('?' for _ in sites)})"
        params = list(sites)
    out: list[dict[str, Any]] = []
    for day in days:
        if not any((root / f"date={day}").glob("site=*/*.parquet")):
            continue
        q = f"""
        WITH af AS (
          SELECT site, screen, run, boot, start_mono, end_mono, start_ms, end_ms
          FROM read_parquet('{root}/date={day}/*/*.parquet', hive_partitioning = true)
          WHERE anti_fraud AND outcome IN ('completed', 'cut_short') AND end_ms > start_ms
                {where}),
        g AS (
          SELECT site, screen, start_ms, end_ms, start_mono - lag(end_mono) OVER (
                      PARTITION BY site, screen, run, boot ORDER BY start_mono) AS gap_s
          FROM af)
        SELECT site, screen, '{day}' AS day, count(*) AS af_showings,
               round(sum(end_ms - start_ms) / 1000.0, 3) AS af_s,
               round(coalesce(max(gap_s), 0), 3) AS max_af_gap_s
        FROM g GROUP BY site, screen ORDER BY site, screen
        """  # noqa: S608 (interpolated: the dataset's own path and a day checked by DAY_RE)
        cur = con.execute(q, params)
        cols = [c[0] for c in cur.description]
        out.extend(dict(zip(cols, r, strict=True)) for r in cur.fetchall())
    out.sort(key=lambda r: (r["site"], r["screen"], r["day"]))
    return out


def verdicts(hub: LoadedHub, period_from: str | None, period_to: str | None,
             sites: list[str] | None = None) -> list[dict[str, Any]]:
    """Per site, the verdict of `signage audit` on the hub's copy (with the site's key)."""
    from ..audit.cli import read_witnesses
    from ..audit.model import AuditInputError, AuditResult
    from ..audit.output import day_rows
    from ..audit.reader import discover
    from ..audit.run import Options, run
    from ..playlog.keyfile import KeyFileError, load_key
    from ..trust import TrustFileError, load_trust

    keys = {s.id: s.v1_key_file for s in hub.cfg.site}
    try:
        trust = load_trust(hub.p(hub.cfg.trust_file)) if hub.cfg.trust_file else None
    except TrustFileError as exc:
        return [{"site": "*", "verdict": "unreadable", "exit_code": 3, "message": str(exc)}]
    out: list[dict[str, Any]] = []
    for d in site_dirs(hub.data_dir):
        if sites and d.name not in sites:
            continue
        row: dict[str, Any] = {"site": d.name}
        kf = keys.get(d.name)
        try:
            files, complete = discover([d])
            wit = d / "witness.jsonl"
            integ, comp = run(files, Options(
                key=load_key(hub.p(kf)) if kf is not None else None, trust=trust,
                witnesses=read_witnesses([wit]) if trust is not None and wit.exists() else [],
                period_from=period_from, period_to=period_to), complete_dir=complete)
        except (AuditInputError, KeyFileError, ValueError) as exc:
            row.update(verdict="unreadable", exit_code=3, message=str(exc))
            out.append(row)
            continue
        res = AuditResult(integ, comp, None)
        days = list(day_rows(res))
        for dr in days:  # format 2: the audited time no witness vouches for
            if "witnessed_s" in dr:
                dr["unwitnessed_s"] = round(dr["audited_s"] - dr["witnessed_s"], 3)
        row.update(verdict=res.verdict, exit_code=res.exit_code, records=integ.records,
                   violations=comp.violations, outages=len(comp.outages),
                   outage_s=round(sum(o.end - o.start for o in comp.outages) / 1000, 3),
                   days=days)
        out.append(row)
    return out


def fleet_exit(codes: Iterable[int]) -> int:
    """The hub audit's exit code: the worst site's. A partial copy (exit 5: not intact, no
    violation in what verifies) ranks above compliant only; 1-4 keep their order."""
    return max(codes, key=lambda c: 0.5 if c == 5 else c, default=0)


def audit_json(hub: LoadedHub, day_from: str, day_to: str,
               sites: list[str] | None) -> dict[str, Any]:
    return {"hub_audit_format": 1, "from": day_from, "to": day_to,
            "sites": verdicts(hub, day_from, (date.fromisoformat(day_to)
                                              + timedelta(days=1)).isoformat(), sites),
            "screen_days": figures(hub, day_from, day_to, sites)}


def write_html(doc: dict[str, Any], path: Path) -> None:
    from html import escape

    def table(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "<p>—</p>"
        head = "".join(f"<th>{escape(str(k))}</th>" for k in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in r.values())
                       + "</tr>" for r in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    # headings in the language in force; column names are the JSON keys (data)
    title = escape(_("hub audit {start} – {end}").format(start=doc["from"], end=doc["to"]))
    h_sites, h_audit, h_parquet = (escape(x) for x in (
        _("sites"), _("screens × days (signage audit)"), _("screens × days (Parquet, DuckDB)")))
    path.write_text(
        f"<!doctype html><html lang='{'en' if language() == 'en' else 'zh-CN'}'>"
        f"<meta charset=utf-8><title>{title}</title><h1>{title}</h1><h2>{h_sites}</h2>"
        f"{table([{k: v for k, v in s.items() if k != 'days'} for s in doc['sites']])}"
        f"<h2>{h_audit}</h2>"
        f"{table([{'site': s['site'], **d} for s in doc['sites'] for d in s.get('days', [])])}"
        f"<h2>{h_parquet}</h2>{table(doc['screen_days'])}",
        encoding="utf-8")
