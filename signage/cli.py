"""The command line: parse, call, print. Thin by design."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from datetime import date
from itertools import takewhile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from . import __version__
from .i18n import _, take_lang_option, use_for_libraries
from .runcmd import dispatch_plain_run
from .runcmd import say as _say
from .sanitize import sanitize

if TYPE_CHECKING:
    from .load import LoadedSite

# Each command imports what it uses inside its body (the site loader with pydantic, the
# planner, the log writer, keys…): `signage --help`, `signage audit` and the other commands
# start without them (docs/benchmarks.md, issue 12); tests/test_cli_imports.py guards it.


def _lang_from_argv() -> None:
    """``--lang en|zh_CN`` anywhere on the command line, applied before the help texts below
    are translated (they are built when this module is imported). Only when this module is the
    program (`signage ...`, `python -m signage.cli ...`), never when a test imports it."""
    if not sys.argv or Path(sys.argv[0]).name not in ("signage", "cli.py"):
        return
    try:
        sys.argv[1:] = take_lang_option(sys.argv[1:])
    except ValueError as exc:
        print(f"--lang: {exc}", file=sys.stderr)
        sys.exit(3)
    use_for_libraries()
    # `signage run ...` runs here, without typer (~1.6 MiB less in the daemon); every other
    # command line returns and is parsed by typer below (signage.runcmd)
    dispatch_plain_run(sys.argv[1:])
    if sys.argv[1:2] == ["audit"]:  # the same for a plain `signage audit ...` (issue 12: the
        from .audit.command import dispatch_plain_audit  # month's audit counts its start-up)

        dispatch_plain_audit(sys.argv[1:])
    from .clitext import install

    install()


_lang_from_argv()

import typer  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help=_("Anti-fraud publicity scheduler with a provable gap rule."))


@app.callback()
def _global(lang: Annotated[str | None, typer.Option(
        "--lang", help=_("language of messages: zh_CN (default) or en; also from LANG"))
        ] = None) -> None:
    """Options for every command (--lang is applied before parsing, see _lang_from_argv)."""


def _console() -> Any:
    from rich.console import Console  # imported only by the commands that draw tables

    return Console()


def _table(title: str) -> Any:
    from rich.table import Table

    return Table(title=_esc(title))


def _esc(text: str) -> str:
    """User text shown through rich: control characters dropped, [markup] shown as typed."""
    from rich.markup import escape

    return escape(sanitize(text))

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help=_("the site's config.toml"))]


def _load(config: Path) -> LoadedSite:
    from .runcmd import load_or_exit

    return load_or_exit(config)


def _duration(text: str, what: str) -> float:
    from .runcmd import duration_or_exit

    return duration_or_exit(text, what)


@app.command(help=_("Print the version."))
def version() -> None:
    """Print the version."""
    print(__version__)


@app.command(help=_("Check config.toml and every playlist; print each screen's worst gap and "
                    "store share."))
def validate(config: ConfigOpt = Path("config.toml"),
             days: Annotated[int, typer.Option(help=_("days planned to measure the gaps"))] = 7
             ) -> None:
    """Check config.toml and every playlist; print each screen's worst gap and store share."""
    from .plan.stats import mean_af_ms, measure, plan_days, store_bound

    try:
        loaded = _load(config)
        site = loaded.site
        today = date.today()
        out = _console()
        t = _table(_("{site}: every screen can comply").format(site=site.name))
        for col in (_("screen"), _("driver"), _("worst planned gap"), _("limit"),
                    _("store share"), _("store bound"), _("ratio")):
            t.add_column(col)
        for sc in site.screens:
            st = measure(sc.id, plan_days(site, sc, today, days), site.rule.start_to_start)
            bound = store_bound(site.rule.budget_ms, mean_af_ms(st), site.rule.start_to_start)
            t.add_row(sc.id, sc.driver, f"{st.worst_gap_ms / 1000:.1f} s",
                      f"{site.rule.max_gap_ms / 1000:g} s", f"{st.store_share:.1%}",
                      f"{bound:.1%}", f"{st.store_share / bound:.3f}" if bound else "—")
        out.print(t)
        _validate_codes(loaded, out)
        for w in loaded.warnings:  # allowed, but probably not meant: one line each
            print(sanitize(_("warning: {problem}").format(problem=str(w))), file=sys.stderr)
        out.print(_("valid: {screens} screens, {playlists} playlists (planned {days} days "
                    "from {today})").format(screens=len(site.screens),
                                            playlists=len(loaded.playlists), days=days,
                                            today=today))
    except typer.Exit:
        raise
    except Exception as exc:  # never a traceback for the user
        _say(_("internal error while validating {config}: {error}").format(
            config=config, error=repr(exc)))
        raise typer.Exit(3) from None


def _validate_codes(loaded: LoadedSite, out: Any) -> None:
    """[inspection] on: which screens show the code, and why not (not a problem: the rule
    does not depend on it)."""
    icfg = loaded.cfg.inspection
    if not icfg.enabled:
        return
    from .inspection.issuer import SLIDE_CODE_SIZE
    from .inspection.picture import code_fit

    t = _table(_("inspection code"))
    t.add_column(_("screen"))
    t.add_column(_("shows it"))
    for sc in loaded.cfg.screens:
        kind = str(sc.options.get("kind", "led" if sc.height <= 64 else "hdmi"))
        led = sc.driver == "led" or (sc.driver == "simulator" and kind == "led")
        draws = led or sc.driver in ("mpv", "simulator")
        slide = icfg.mode == "slide" and not led and draws
        ok, why = code_fit(loaded.cfg.site.id, sc.id, icfg.hub_url, sc.width, sc.height,
                           draws, SLIDE_CODE_SIZE if slide else icfg.size, led)
        if slide and ok:
            why = _("yes: a code slide of {s:g} s once every {n} anti-fraud showings, paid "
                    "from the gap budget (the worst planned gap above includes it); {fit}"
                    ).format(
                        s=icfg.slide_s, n=icfg.every, fit=why)
        t.add_row(sc.id, _esc(why))
    out.print(t)
    if "hub_url" not in icfg.model_fields_set:
        out.print(_esc(_("[inspection] hub_url is not set: a phone that scans a code opens no "
                         "check page (the code is still checked offline with signage "
                         "inspect); set it to the fleet hub's address")))


@app.command(help=_("Print the planned timeline and, per screen, max gap, anti-fraud share, "
                    "counts."))
def plan(config: ConfigOpt = Path("config.toml"),
         screen: Annotated[str | None, typer.Option(help=_("only this screen"))] = None,
         from_: Annotated[str, typer.Option("--from", help=_("now, today, 2026-03-18 08:00"))
         ] = "now",
         for_: Annotated[str, typer.Option("--for", help=_("e.g. 10m, 2h, 1d"))] = "10m",
         format_: Annotated[str, typer.Option("--format", help=_("table or json"))
         ] = "table") -> None:
    """Print the planned timeline and, per screen, max gap, anti-fraud share, counts."""
    from .plan import Timeline
    from .plan.stats import measure
    from .timeutil import parse_when, rfc3339_ms

    loaded = _load(config)
    site = loaded.site
    if format_ not in ("table", "json"):
        _say("--format: " + _("use table or json"))
        raise typer.Exit(3)
    try:
        t0 = parse_when(from_, site.tz, int(time.time() * 1000))
    except ValueError as exc:
        _say(f"--from: {exc}")
        raise typer.Exit(3) from None
    t1 = t0 + int(_duration(for_, "--for") * 1000)
    screens = [s for s in site.screens if screen is None or s.id == screen]
    if not screens:
        _say("--screen: " + _("no screen {screen}; screens: {screens}").format(
            screen=repr(screen), screens=", ".join(s.id for s in site.screens)))
        raise typer.Exit(3)
    result: list[dict[str, Any]] = []
    for sc in screens:
        entries = list(takewhile(lambda e: e.start_ms < t1, Timeline(site, sc).entries(t0)))
        st = measure(sc.id, entries, site.rule.start_to_start)
        result.append({
            "screen": sc.id,
            "entries": [{"start": rfc3339_ms(e.start_ms, site.tz),
                         "end": rfc3339_ms(e.end_ms, site.tz), "item": e.item.id,
                         "anti_fraud": e.anti_fraud, "truncated": e.truncated,
                         "text": e.item.text, "path": e.item.path} for e in entries],
            "max_gap_s": st.worst_gap_ms / 1000, "anti_fraud_share": round(st.af_share, 4),
            "counts": dict(sorted(st.counts.items())),
        })
    if format_ == "json":
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=1) + "\n")
        return
    out = _console()
    for res in result:
        t = _table(f"{res['screen']}")
        for col in (_("start"), _("end"), "", _("item"), _("content")):
            t.add_column(col)
        for e in res["entries"]:
            t.add_row(e["start"][11:23], e["end"][11:23], "★" if e["anti_fraud"] else "",
                      e["item"], _esc(e["text"] or e["path"])[:40])
        out.print(t)
        out.print(_("max gap {gap} s, anti-fraud share {share}, counts: {counts}").format(
            gap=f"{res['max_gap_s']:.1f}", share=f"{res['anti_fraud_share']:.1%}",
            counts=", ".join(f"{k} {v}" for k, v in res["counts"].items())), highlight=False)


@app.command(help=_("Run the screens (the kiosk daemon). SIGHUP reloads, SIGTERM/SIGINT stop "
                    "cleanly."))
def run(config: ConfigOpt = Path("config.toml"),
        for_: Annotated[str | None, typer.Option("--for", help=_("stop after, e.g. 2m"))
        ] = None,
        live: Annotated[bool, typer.Option(help=_("live table (default: when a terminal)"))
        ] = True) -> None:
    """Run the screens (the kiosk daemon). SIGHUP reloads, SIGTERM/SIGINT stop cleanly."""
    from .runcmd import run_daemon

    run_daemon(config, for_, live)


@app.command(help=_("Run the same runtime, gap guard and log writer on a virtual clock, all "
                    "screens on the simulator driver: a day in seconds. The log is marked "
                    "mode=simulate, with its own key."))
def simulate(config: ConfigOpt = Path("config.toml"),
             start: Annotated[str, typer.Option(help=_("virtual start, e.g. 2026-12-01"))
             ] = "today",
             for_: Annotated[str, typer.Option("--for", help=_("simulated time, e.g. 24h"))
             ] = "24h",
             log: Annotated[Path, typer.Option(help=_("log directory (never the real log)"))
             ] = Path("var/simulate-log"),
             fleet: Annotated[int, typer.Option(
                 help=_("run N simulated boxes (site ids <id>-001…) and ship each log to the "
                        "hub of \\[fleet] (docs/fleet.md)"))] = 0) -> None:
    """Run the same runtime, gap guard and log writer on a virtual clock, all screens on the
    simulator driver: a day in seconds. The log is marked mode=simulate, with its own key."""
    from .keys import SigningKeyError
    from .playlog.keyfile import KeyFileError
    from .playlog.logdir import LogDirError
    from .playlog.writer import RecordTooLong
    from .runcmd import EXIT_LOG_LOST
    from .runcmd import summary as _summary
    from .runtime.clock import VirtualClock
    from .runtime.daemon import RunSettings, Runtime
    from .timeutil import fmt_duration, parse_when, rfc3339_ms

    loaded = _load(config)
    duration = _duration(for_, "--for")
    try:
        t0 = parse_when(start, loaded.site.tz, int(time.time() * 1000))
    except ValueError as exc:
        _say(f"--start: {exc}")
        raise typer.Exit(3) from None
    if fleet > 0:
        from .fleet.simulate import simulate_fleet

        try:
            done = simulate_fleet(loaded, fleet, t0 / 1000, duration, log, _say)
        except (ValueError, KeyFileError, OSError) as exc:
            _say(_("cannot start: {exc}").format(exc=exc))
            raise typer.Exit(3) from None
        raise typer.Exit(0 if done == fleet else 1)
    clock = VirtualClock(t0 / 1000)
    settings = RunSettings(virtual=True, duration_s=duration, log_dir=log,
                           key_file=log / "simulate.key",
                           signing_key=log / "simulate-signing.key")
    try:
        rt = Runtime(loaded, clock, settings)
        rt.setup()
    except (KeyFileError, SigningKeyError, LogDirError, RecordTooLong, OSError) as exc:
        _say(_("cannot start: {error}").format(error=exc))
        raise typer.Exit(3) from None
    w0 = time.perf_counter()
    rt.run_virtual(clock.monotonic() + duration)
    rt.stop_reason = "duration reached"
    rt.finish()
    if rt.writer.lost is not None:
        raise typer.Exit(EXIT_LOG_LOST)
    wall = time.perf_counter() - w0
    _say(_("simulated {duration} from {start} in {wall} s ({speed}x); {records} records in "
           "{log}").format(duration=fmt_duration(duration), start=rfc3339_ms(t0, loaded.site.tz),
                           wall=f"{wall:.2f}", speed=f"{duration / wall:,.0f}",
                           records=rt.writer.records_written, log=log))
    _summary(rt)


@app.command("new-chain", help=_(
    "Start a new log chain with a new key, when the key was lost or is replaced: the old log "
    "files and key move to <log dir>/chain-<time>/ (still verifiable with the old key), a new "
    "key is made, and the next start marks the break in its run_start."))
def new_chain_command(
        config: ConfigOpt = Path("config.toml"),
        reason: Annotated[str, typer.Option(
            help=_("why: e.g. \"key file lost with the SD card\""))] = "") -> None:
    """Start a new log chain with a new key, when the key was lost or is replaced: the old
    log files and key move to <log dir>/chain-<time>/ (still verifiable with the old key),
    a new key is made, and the next start marks the break in its run_start."""
    from .cliload import config_or_exit
    from .config import resolve
    from .playlog.keyfile import KeyFileError
    from .playlog.logdir import LogDirError
    from .playlog.newchain import new_chain

    cfg = config_or_exit(config)
    base = config.parent
    log_dir, key_path = resolve(base, cfg.log.dir), resolve(base, cfg.log.key_file)
    try:
        note = new_chain(log_dir, key_path, reason, f"[log] dir in {config}")
    except (LogDirError, KeyFileError, OSError) as exc:
        _say(_("new-chain: {why}").format(why=sanitize(str(exc))))
        raise typer.Exit(3) from None
    if note["previous_dir"]:
        head = note["previous_head"]
        _say(_("the old chain is in {dir}").format(dir=log_dir / note["previous_dir"])
             + (f" (head {head['file']}:{head['seq']}:{head['mac']})" if head else ""))
    _say(_("new key {key}; the next start begins a new chain at seq 0 and records why. Give "
           "the inspector the new key, and keep the old one with the old chain.").format(
               key=key_path))


def mount_optional(argv: list[str] | None = None) -> None:
    """Commands that live with their parts (audit, keys, LED tools). Importing them costs time at
    every start, so they are mounted only when the command line may need them."""
    first = next((a for a in (argv or []) if not a.startswith("-")), None)
    if first in (None, "audit"):
        try:
            from .audit.cli import audit_command
            app.command("audit", help=_(
                "Audit a proof-of-play log: its integrity, then the gap rule per screen and "
                "day.\n\nIntegrity: the hash chain (format 2: SHA-256, signed checkpoints "
                "checked with the public keys of --trust; format 1: HMAC with the site key), "
                "sequence numbers, files and seals, monotonic time. Then, per screen and local "
                "day inside opening hours, every gap between anti-fraud showings longer than the "
                "limit, with its cause.\n\nExit codes: 0 compliant and intact, 1 violations, "
                "2 integrity broken, 3 unreadable input or usage error, 4 a simulated log (never "
                "proof of play), 5 a partial log (starts after seq 0: not intact)."
                ))(_marked(audit_command))
        except ImportError:
            pass
    if first in (None, "console"):
        from .console.cli import console_app
        app.add_typer(console_app, name="console")
    if first in (None, "report"):
        from .summary.cli import report_command
        app.command("report", help=_("The campaign summary (活动总结) for a period: an A4 "
                                     "page (HTML, and PDF with --pdf)."))(_marked(report_command))
    if first in (None, "alert", "push"):
        from .alerts.cli import alert_app, push_app
        app.add_typer(alert_app, name="alert",
                      help=_("urgent alerts: take one on this box, or seal one (docs/alerts.md)"))
        app.add_typer(push_app, name="push",
                      help=_("pushed playlists: take a signed bundle, or seal one "
                             "(docs/alerts.md)"))
    if first in (None, "keys", "checkpoint"):
        from .keys_cli import checkpoint_command, keys_app
        app.add_typer(keys_app, name="keys", help=_(
            "The box's Ed25519 signing key (log format 2): generate, show, rotate."))
        app.command("checkpoint", help=_(
            "Print the box's latest signed checkpoint as one line (the line exactly as in the "
            "log), after verifying its signature with the box's own key (and with --trust's) "
            "and its link on the record before it: keep it, photograph it or paste it; "
            "`signage audit --witness FILE` checks a log against it later. Exit codes: 0 "
            "verified, 1 printed but not verified (no key at hand), 2 not good (not printed), "
            "3 unreadable input."))(_marked(checkpoint_command))
    if first in (None, "hub"):
        try:
            from .hub.cli import hub_app
            app.add_typer(hub_app, name="hub", help=_("the fleet hub (docs/fleet.md)"))
        except ImportError:
            pass
    if first in (None, "inspect"):
        from .inspection.cli import inspect_command
        app.command("inspect", help=_(
            "Check the signed inspection code in a photo of a screen."))(_marked(inspect_command))
    if first in (None, "led", "fakeboard"):
        try:
            from signage_drivers.led.cli import fakeboard_command, led_app
            app.add_typer(led_app, name="led", help=_("LED board tools (probe)"))
            app.command("fakeboard", help=_("Run a fake BX-5E LED board on a pty or a TCP port "
                                            "until Ctrl-C."))(fakeboard_command)
        except ImportError:
            pass


class _Run:
    """Whether a command body started: tells a usage error (exit 2 from the parser) from
    `signage audit`'s own exit 2 (integrity broken)."""

    started = False


def _marked(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _Run.started = True
        return fn(*args, **kwargs)
    return wrapper


def main() -> None:
    """Entry point. Usage errors exit 3, like unreadable input: exit 2 means "integrity
    broken" for `signage audit`, so the parser's 2 for a bad option is turned into 3."""
    mount_optional(sys.argv[1:])
    try:
        app()
    except SystemExit as exc:
        if exc.code == 2 and not _Run.started:
            sys.exit(3)
        raise


if __name__ == "__main__":
    main()

__all__ = ["app", "main"]
