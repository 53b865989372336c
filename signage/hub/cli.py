"""`signage hub …`: run the hub, show the fleet, audit it. Thin: parse, call, print."""

from __future__ import annotations

import csv
import json
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..alerts.reasons import label
from ..i18n import _
from ..sanitize import sanitize

if TYPE_CHECKING:
    from .config import LoadedHub

hub_app = typer.Typer(add_completion=False, no_args_is_help=True,
                      help=_("The fleet hub: collects every site's log over MQTT (docs/fleet.md)."))
HubOpt = Annotated[Path, typer.Option("--config", "-c", help=_("the hub's hub.toml"))]


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _load(path: Path) -> LoadedHub:
    from ..problems import InputError
    from .config import load_hub  # (pydantic: only for the commands that read hub.toml)

    try:
        return load_hub(path)
    except InputError as exc:
        for p in exc.problems:
            _say(sanitize(str(p)))
        raise typer.Exit(3) from None


@hub_app.command("run", help=_('Run the hub until SIGTERM/SIGINT.'))
def run_cmd(config: HubOpt = Path("hub.toml")) -> None:
    """Run the hub until SIGTERM/SIGINT."""
    from ..fleet.mqtt import BrokerConfigError
    from ..playlog.keyfile import KeyFileError
    from ..trust import TrustFileError
    from .ingest import HubService
    from .rebuild import HubRunning
    from .web import serve

    hub = _load(config)
    try:
        svc = HubService(hub, say=_say)
    except (KeyFileError, BrokerConfigError, TrustFileError, OSError) as exc:
        _say(_("cannot start the hub: {error}").format(error=exc))
        raise typer.Exit(3) from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_a: stop.set())
    try:
        svc.start()
    except HubRunning:
        _say(_("cannot start the hub: a rebuild of {dir} is running").format(
            dir=hub.data_dir))
        raise typer.Exit(3) from None
    except OSError as exc:
        _say(_("cannot start the hub: {error}").format(error=exc))
        raise typer.Exit(3) from None
    server = serve(svc)
    _say(_("hub: data in {dir}, broker {url}, status on http://{host}:{port}/status").format(
        dir=hub.data_dir, url=hub.cfg.broker.url, host=hub.cfg.http.listen,
        port=hub.cfg.http.port))
    stop.wait()
    if server is not None:
        server.should_exit = True
    svc.stop()
    _say(_("hub: stopped; {n} records verified and stored by this process").format(
        n=svc.ingest.records))


@hub_app.command("rebuild", help=_("Regenerate the Parquet dataset from the byte-identical "
                                   "copies (no hub may run)."))
def rebuild_cmd(config: HubOpt = Path("hub.toml"),
                site: Annotated[list[str] | None, typer.Option(
                    "--site", help=_("only this site (repeatable)"))] = None,
                date: Annotated[str | None, typer.Option(
                    "--date", help=_("only this day's partitions, YYYY-MM-DD"))] = None) -> None:
    """Regenerate the Parquet dataset from the byte-identical copies (no hub may run)."""
    import os

    from ..playlog.keyfile import KeyFileError
    from ..trust import TrustFileError
    from .config import site_dirs
    from .dataset import DAY_RE
    from .ingest import Ingest
    from .rebuild import HubRunning, hold_run_lock, rebuild

    hub = _load(config)
    if date is not None and not DAY_RE.match(date):
        _say(_("--date: a day YYYY-MM-DD, got {value}").format(value=date))
        raise typer.Exit(3)
    known = [d.name for d in site_dirs(hub.data_dir)]
    for s in site or []:
        if s not in known:
            _say(_("--site {site}: no copy of this site in {dir}").format(
                site=s, dir=hub.data_dir))
            raise typer.Exit(3)
    try:
        lock = hold_run_lock(hub.data_dir, exclusive=True)
    except HubRunning:
        _say(_("a hub is running on {dir}: stop it first (its rows would race the "
               "rebuild)").format(dir=hub.data_dir))
        raise typer.Exit(3) from None
    try:
        ingest = Ingest(hub, say=_say)
        n = rebuild(hub.data_dir, ingest.verifier, site or known, date, _say)
    except (KeyFileError, TrustFileError, OSError) as exc:
        _say(_("cannot rebuild: {error}").format(error=exc))
        raise typer.Exit(3) from None
    finally:
        os.close(lock)
    _say(_("rebuilt: {n} rows").format(n=n))


@hub_app.command("status", help=_('Sites and screens: last heard, up/down, worst gap today; sites '
                                  'silent in opening hours flagged.'))
def status_cmd(config: HubOpt = Path("hub.toml"),
               format_: Annotated[str, typer.Option("--format", help=_("table or json"))
               ] = "table",
               silent_after: Annotated[float | None, typer.Option(
                   "--silent-after", help=_("minutes without a message that make a site "
                   "silent (default: silent_after_s of hub.toml)"))] = None) -> None:
    """Sites and screens: last heard, up/down, worst gap today; sites silent in opening
    hours flagged."""
    from .views import refused_rows, status_rows

    hub = _load(config)
    if silent_after is not None and silent_after <= 0:
        _say(_("--silent-after: a number of minutes above 0"))
        raise typer.Exit(3)
    rows = status_rows(hub, silent_after_s=None if silent_after is None
                       else silent_after * 60)
    refused = refused_rows(hub)
    if format_ == "json":
        sys.stdout.write(json.dumps(rows + refused, ensure_ascii=False, indent=1) + "\n")
        return
    from rich.markup import escape

    lines = []
    for r in rows:
        heard = (r["last_heard"] or "—") + (
            " " + _("SILENT") if r["silent_open"] else
            " " + _("(silent, closed)") if r["silent"] else "")
        scs = r["screens"] or [{"screen": "—", "up": None, "item": None,
                                "worst_gap_today_s": None}]
        for i, s in enumerate(scs):
            up = {True: _("up"), False: _("DOWN"), None: "?"}[s["up"]]
            gap = s["worst_gap_today_s"]
            lines.append((escape(r["site"]) if i == 0 else "", escape(heard) if i == 0 else "",
                          escape(str(s["screen"])), up, escape(str(s["item"] or "")),
                          f"{gap:.1f} s" if isinstance(gap, int | float) else "—",
                          str(r["rejected"]) if i == 0 else ""))
    _print_table(_("fleet status ({n} sites)").format(n=len(rows)),
                 (_("site"), _("last heard"), _("screen"), _("up"), _("on screen"),
                  _("worst gap today"), _("rejected")), lines)
    if refused:
        _print_table(_("refused: {n} sites not registered (nothing of them stored)").format(
            n=len(refused)), (_("site"), _("messages"), _("last refused"), _("reason")),
            [(escape(r["site"]), str(r["refused_messages"]), escape(r["last_refused"]),
              escape(_(r["reason"]))) for r in refused])


@hub_app.command("audit", help=_("Per site the verdict of `signage audit` on the hub's copy; per "
                                 "screen and day the anti-fraud figures from the Parquet dataset "
                                 "(DuckDB). Exit 0 all compliant, 1 a violation, 2 an integrity "
                                 "break, 3 bad input, 4 a simulated log, 5 a partial copy (not "
                                 "intact) and nothing worse."))
def audit_cmd(from_: Annotated[str, typer.Option("--from", help=_("first day, YYYY-MM-DD"))],
              to: Annotated[str, typer.Option("--to", help=_("last day, YYYY-MM-DD"))],
              config: HubOpt = Path("hub.toml"),
              site: Annotated[list[str] | None, typer.Option("--site", help=_("only this site"))
              ] = None,
              format_: Annotated[str, typer.Option("--format", help=_("table, json, csv or html"))
              ] = "table",
              report: Annotated[Path | None, typer.Option(help=_("HTML file (--format html)"))
              ] = None) -> None:
    """Per site the verdict of `signage audit` on the hub's copy; per screen and day the
    anti-fraud figures from the Parquet dataset (DuckDB). Exit 0 all compliant, 1 a violation,
    2 an integrity break, 3 bad input, 4 a simulated log, 5 a partial copy (not intact) and
    nothing worse."""
    from datetime import date

    from ..cli import _Run
    from .views import audit_json, fleet_exit, write_html

    _Run.started = True  # exit 2 is "integrity broken" here, not a usage error

    hub = _load(config)
    try:
        if date.fromisoformat(to) < date.fromisoformat(from_):
            raise ValueError(_("--to is before --from"))
    except ValueError as exc:
        _say(_("--from/--to: {error} (use YYYY-MM-DD)").format(error=exc))
        raise typer.Exit(3) from None
    if format_ not in ("table", "json", "csv", "html"):
        _say(_("--format: use table, json, csv or html"))
        raise typer.Exit(3)
    doc = audit_json(hub, from_, to, site)
    code = fleet_exit(s["exit_code"] for s in doc["sites"])
    if format_ == "json":
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=1, default=str) + "\n")
    elif format_ == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(["site", "verdict", "screen", "day", "max_gap_s", "violations",
                    "unwitnessed_s", "af_showings", "af_s", "max_af_gap_s"])
        verdict = {s["site"]: s["verdict"] for s in doc["sites"]}
        audited = {(s["site"], d["screen"], d["day"]): d for s in doc["sites"]
                   for d in s.get("days", [])}
        for r in doc["screen_days"]:
            a = audited.get((r["site"], r["screen"], str(r["day"])), {})
            w.writerow([r["site"], verdict.get(r["site"], ""), r["screen"], r["day"],
                        a.get("max_gap_s", ""), a.get("violations", ""),
                        a.get("unwitnessed_s", ""), r["af_showings"], r["af_s"],
                        r["max_af_gap_s"]])
    elif format_ == "html":
        out = report or Path("hub-audit.html")
        write_html(doc, out)
        _say(str(out))
    else:
        _table(doc)
    raise typer.Exit(code)


def _print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A rich table on stdout (rich is loaded here only, by the commands that print one)."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for col in columns:
        t.add_column(col)
    for r in rows:
        t.add_row(*r)
    Console().print(t)


def _table(doc: dict[str, Any]) -> None:
    from rich.markup import escape

    from ..audit.output import VERDICTS

    _print_table(_("hub audit {start} – {end}").format(start=doc["from"], end=doc["to"]),
                 (_("site"), _("verdict"), _("records"), _("violations"), _("outages")),
                 [(escape(s["site"]), _(VERDICTS.get(s["verdict"], s["verdict"])),
                   str(s.get("records", "")),
                   str(s.get("violations", "")), str(s.get("outages", "")))
                  for s in doc["sites"]])
    _print_table(_("anti-fraud showings per screen and day (verified, from Parquet)"),
                 (_("site"), _("screen"), _("day"), _("showings"), _("seconds"),
                  _("longest interval")),
                 [(escape(r["site"]), escape(r["screen"]), str(r["day"]),
                   str(r["af_showings"]), f"{r['af_s']:.0f}", f"{r['max_af_gap_s']:.1f} s")
                  for r in doc["screen_days"]])


@hub_app.command("alert", help=_("Sign a CAP alert with the authority's key and send it to the "
                                 "sites (retained: a box offline now gets it on reconnecting). "
                                 "docs/alerts.md."))
def alert_cmd(file: Annotated[Path, typer.Argument(help=_("a CAP 1.2 alert (.xml)"))],
              to: Annotated[list[str], typer.Option(
                  "--to", help=_("all, a site id or a 6-digit region code; repeatable"))],
              config: HubOpt = Path("hub.toml")) -> None:
    """Sign a CAP alert with the authority's key and send it to the sites (retained: a box
    offline now gets it on reconnecting). docs/alerts.md."""
    from ..alerts.cap import MAX_CAP_BYTES, CapError
    from ..fleet.mqtt import BrokerConfigError
    from ..keys import SigningKeyError
    from .push import PushError, send_alert

    hub = _load(config)
    try:
        if file.stat().st_size > MAX_CAP_BYTES:
            raise PushError(_("{file}: over {n} bytes; a CAP alert is a few KB").format(
                file=file, n=MAX_CAP_BYTES))
        alert, sites, digest = send_alert(hub, file.read_bytes(), to)
    except (CapError, PushError, SigningKeyError, BrokerConfigError, OSError) as exc:
        _say(sanitize(f"{file}: {exc}"))
        raise typer.Exit(1) from None
    print(_("alert {id} ({type}) sent to {n} sites: {sites}; envelope {digest}").format(
        id=alert.identifier, type=alert.msg_type, n=len(sites), sites=", ".join(sites),
        digest=digest[:16]))


@hub_app.command("alerts", help=_("Per alert sent: each targeted site and screen, received, first "
                                  "shown (latency from the alert's sent time), or why not "
                                  "(refused, offline, screen down, closed)."))
def alerts_cmd(config: HubOpt = Path("hub.toml"),
               format_: Annotated[str, typer.Option("--format", help=_("table or json"))
               ] = "table") -> None:
    """Per alert sent: each targeted site and screen, received, first shown (latency from
    the alert's sent time), or why not (refused, offline, screen down, closed)."""
    import dataclasses

    from .push import alert_rows

    rows = alert_rows(_load(config))
    if format_ == "json":
        sys.stdout.write(json.dumps([dataclasses.asdict(r) for r in rows],
                                    ensure_ascii=False, indent=1) + "\n")
        return
    from rich.markup import escape

    _print_table(_("alerts sent ({n} rows)").format(n=len(rows)),
                 (_("alert"), _("site"), _("screen"), _("received"), _("first shown"),
                  _("latency"), _("why not shown")),
                 [(escape(r.alert), escape(r.site), escape(r.screen or "—"),
                   escape(label(r.received)),
                   escape(r.first_shown or "—"),
                   "—" if r.latency_s is None else f"{r.latency_s:.2f} s", escape(_(r.why_not)))
                  for r in rows])


publish_app = typer.Typer(add_completion=False, no_args_is_help=True,
                          help=_("publish content to the boxes (docs/alerts.md)"))
hub_app.add_typer(publish_app, name="publish")


@publish_app.command("playlist", help=_("Sign a playlist and its media with the authority's key "
                                        "and send it to the sites; each box verifies, validates "
                                        "its whole site with it and applies it or rejects it (see "
                                        "`signage hub publications`)."))
def publish_playlist_cmd(
        file: Annotated[Path, typer.Argument(help=_("the playlist (.toml, docs/playlists.md)"))],
        media: Annotated[list[Path] | None, typer.Argument(help=_("its media files"))] = None,
        to: Annotated[list[str] | None, typer.Option(
            "--to", help=_("all, a site id or a 6-digit region code; repeatable"))] = None,
        id_: Annotated[str, typer.Option("--id", help=_("publication id (default: file name)"))
                       ] = "",
        config: HubOpt = Path("hub.toml")) -> None:
    """Sign a playlist and its media with the authority's key and send it to the sites; each
    box verifies, validates its whole site with it and applies it or rejects it (see
    `signage hub publications`)."""
    from ..alerts.bundle import BundleError
    from ..fleet.mqtt import BrokerConfigError
    from ..keys import SigningKeyError
    from .push import PushError, send_playlist

    hub = _load(config)
    try:
        bid, sites, digest = send_playlist(hub, file, media or [], to or ["all"],
                                           id_ or file.stem)
    except (PushError, BundleError, SigningKeyError, BrokerConfigError, OSError,
            ValueError) as exc:
        _say(sanitize(f"{file}: {exc}"))
        raise typer.Exit(1) from None
    print(_("publication {id} sent to {n} sites: {sites}; bundle {digest}").format(
        id=bid, n=len(sites), sites=", ".join(sites), digest=digest[:16]))


@hub_app.command("withdraw", help=_(
    "Take a published playlist off the sites: a signed withdrawal, applied by each box "
    "through the same reload path (see `signage hub publications`)."))
def withdraw_cmd(
        publication: Annotated[str, typer.Argument(help=_("the publication's id"))],
        to: Annotated[list[str] | None, typer.Option(
            "--to", help=_("all, a site id or a 6-digit region code; repeatable"))] = None,
        config: HubOpt = Path("hub.toml")) -> None:
    """Take a published playlist off the sites: a signed withdrawal, applied by each box
    through the same reload path (see `signage hub publications`)."""
    from ..alerts.bundle import BundleError
    from ..fleet.mqtt import BrokerConfigError
    from ..keys import SigningKeyError
    from .push import PushError, send_withdrawal

    hub = _load(config)
    try:
        sites, digest = send_withdrawal(hub, publication, to or ["all"])
    except (PushError, BundleError, SigningKeyError, BrokerConfigError, OSError,
            ValueError) as exc:
        _say(sanitize(f"{publication}: {exc}"))
        raise typer.Exit(1) from None
    print(_("withdrawal of {id} sent to {n} sites: {sites}; message {digest}").format(
        id=publication, n=len(sites), sites=", ".join(sites), digest=digest[:16]))


@hub_app.command("publications", help=_("Per playlist publication and site: applied, rejected "
                                        "(with the box's problems), or not reached yet."))
def publications_cmd(config: HubOpt = Path("hub.toml"),
                     format_: Annotated[str, typer.Option("--format", help=_("table or json"))
                     ] = "table") -> None:
    """Per playlist publication and site: applied, rejected (with the box's problems), or not
    reached yet."""
    import dataclasses

    from .push import publication_rows

    rows = publication_rows(_load(config))
    if format_ == "json":
        sys.stdout.write(json.dumps([dataclasses.asdict(r) for r in rows],
                                    ensure_ascii=False, indent=1) + "\n")
        return
    from rich.markup import escape

    _print_table(_("publications ({n} rows)").format(n=len(rows)),
                 (_("publication"), _("site"), _("state"), _("when"), _("problems")),
                 [(escape(r.id), escape(r.site), escape(_(r.state)), escape(r.at or "—"),
                   escape("; ".join(r.problems)[:400] or label(r.reason))) for r in rows])
