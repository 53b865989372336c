"""The hub's check page for a scanned code: ``GET /v/<payload>`` (a phone camera opens it) and
``GET /api/head/<site>/<seq>`` (the chain head of the hub's copy of a site's log, for
``signage inspect --hub``). Starlette routes that the fleet hub mounts (``routes(desk)``).

The page verifies the code against the hub's trust file and the time of the request, checks
the head against the hub's copy of the log when the copy already holds that seq, and records
every code whose signature verifies as a witness (docs/inspection-code.md, "Scans"): one JSON
line per distinct code, appended and fsynced. The path is hostile input: its length is
bounded by the statement parser before anything else.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..i18n import _
from ..trust import Trust
from .check import Finding, Report, check, log_mac_at
from .statement import MAX_TEXT, StatementError, parse
from .wording import statement_lines

SCAN_RECORD = "inspection_scan"
_SITE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SEEN_MAX = 10_000


@dataclass
class ScanDesk:
    """What the page needs from the hub."""

    #: the hub's trust file (None: the hub has none, nothing can be verified)
    trust: Callable[[], Trust | None]
    #: the directory of the hub's byte-identical copy of a site's log (None: no copy)
    log_dir_of: Callable[[str], Path | None]
    #: where a site's scans are appended, one JSON line each
    scans_of: Callable[[str], Path]
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    now: Callable[[], float] = time.time
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seen: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _heads: OrderedDict[tuple[str, int], tuple[str, str]] = field(default_factory=OrderedDict)

    def head_at(self, site: str) -> Callable[[int], tuple[str, str] | None] | None:
        d = self.log_dir_of(site)
        if d is None or not d.is_dir():
            return None

        def lookup(seq: int) -> tuple[str, str] | None:
            # the copy only grows: a record found stays as it is (cached; a scan replayed in
            # a loop costs no file read), one not there yet is looked up again
            key = (site, seq)
            with self._lock:
                got = self._heads.get(key)
            if got is not None:
                return got
            got = log_mac_at(d, seq)
            if got is not None:
                with self._lock:
                    self._heads[key] = got
                    while len(self._heads) > _SEEN_MAX:
                        self._heads.popitem(last=False)
            return got

        return lookup

    def record(self, text: str, report: Report, received: float, agent: str) -> bool:
        """Append the scan as a witness, once per distinct code; True when written."""
        digest = hashlib.sha256(text.encode()).hexdigest()
        st = report.signed.statement
        line = json.dumps({
            "type": SCAN_RECORD, "v": 1,
            "received": datetime.fromtimestamp(received, self.tz).isoformat(),
            "site": st.site, "screen": st.screen, "seq": st.seq, "head": st.head.hex(),
            "key": st.key_id, "time": datetime.fromtimestamp(st.time, self.tz).isoformat(),
            "verdict": "ok" if report.ok else next(f.code for f in report.findings
                                                    if not f.ok),
            "payload": report.signed.text(), "agent": agent[:200],
        }, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if digest in self._seen:
                return False
            path = self.scans_of(st.site)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            self._seen[digest] = None
            while len(self._seen) > _SEEN_MAX:
                self._seen.popitem(last=False)
        return True


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 0; background: #f4f4f4; color: #222; }}
.v {{ padding: 1.2em; color: #fff; font-size: 1.6em; font-weight: bold; }}
.ok {{ background: #1a7f37; }} .bad {{ background: #c62828; }}
ul {{ list-style: none; padding: 0 1em; font-size: 1.05em; line-height: 1.6; }}
li.f {{ font-weight: bold; }} small {{ display: block; padding: 0 1em 1em; color: #666; }}
</style></head>
<body><div id="verdict" class="v {cls}">{verdict}</div>
<ul>{items}</ul>
<small>{note}</small></body></html>
"""


def _finding(f: Finding) -> str:
    return ("✔ " if f.ok else "✘ ") + _(f.message).format(**dict(f.fields))


def render_page(report: Report | None, error: str, tz: ZoneInfo) -> str:
    """The mobile page (escaped; every text through signage.i18n._)."""
    esc = html.escape
    if report is None:
        return _PAGE.format(title=esc(_("Inspection code")), cls="bad",
                            verdict=esc(_("RED: not a valid inspection code")),
                            items=f'<li class="f">{esc(error)}</li>', note="")
    st = report.signed.statement
    when = datetime.fromtimestamp(st.time, tz).strftime("%Y-%m-%d %H:%M:%S")
    lines = statement_lines(st, when, key=False)
    items = "".join(f"<li>{esc(x)}</li>" for x in lines)
    items += "".join(f'<li class="f">{esc(_finding(f))}</li>' for f in report.findings)
    verdict = _("GREEN: genuine and fresh") if report.ok else _("RED: refused")
    note = _("A green result proves that this site's registered key signed these figures "
             "within five minutes of this scan; the log delivered later must agree with them.")
    return _PAGE.format(title=esc(_("Inspection code")), cls="ok" if report.ok else "bad",
                        verdict=esc(verdict), items=items, note=esc(note))


def routes(desk: ScanDesk) -> list[Route]:
    def page(request: Request) -> Response:
        text = str(request.path_params.get("payload", ""))[:MAX_TEXT + 1]
        received = desk.now()
        trust = desk.trust()
        try:
            site = parse(text).statement.site
            if trust is None:
                raise StatementError(_("this hub has no trust file: it cannot check codes"))
            report = check(text, trust, int(received), desk.head_at(site), pending_ok=True)
        except StatementError as exc:
            return HTMLResponse(render_page(None, str(exc), desk.tz), status_code=400)
        if report.findings[0].code not in ("unknown_site", "unknown_key", "bad_signature"):
            desk.record(text, report, received, request.headers.get("user-agent", ""))
        return HTMLResponse(render_page(report, "", desk.tz),
                            headers={"Cache-Control": "no-store"})

    def head(request: Request) -> Response:
        site = str(request.path_params["site"])
        seq = int(request.path_params["seq"])
        if not _SITE_ID.fullmatch(site):
            return JSONResponse({"error": "not a site id"}, status_code=400)
        d = desk.log_dir_of(site)
        if d is None or not d.is_dir():
            return JSONResponse({"error": "unknown site"}, status_code=404)
        got = log_mac_at(d, seq)
        if got is None:
            return JSONResponse({"error": "no record with that seq"}, status_code=404)
        return JSONResponse({"site": site, "seq": seq, "file": got[0], "mac": got[1]})

    return [Route("/v/{payload}", page), Route("/api/head/{site}/{seq:int}", head)]


__all__ = ["SCAN_RECORD", "ScanDesk", "render_page", "routes"]
