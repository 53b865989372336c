"""`signage run`'s body, without typer or click: the daemon stays light (docs/benchmarks.md).

signage.cli calls :func:`dispatch_plain_run` before it imports typer. A command line that is
plainly ``run`` with only its own options (``--config``/``-c``, ``--for``, ``--live``/
``--no-live``; ``--lang`` is taken off before) runs here and exits; any other command line
(``--help``, another command, an unknown or repeated option, a value that looks like an
option) returns, and typer parses it as before. The `run` command in signage.cli calls
:func:`run_daemon` too, so both ways run the same code with the same messages and exit codes."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .i18n import _, ngettext

if TYPE_CHECKING:
    from .load import LoadedSite

# (the site loader, keys and log writer are imported by the functions that use them: signage.cli
# imports this module at every start, tests/test_cli_imports.py)

#: `signage run`/`simulate` exit status when records were lost (log storage full until
#: the stop): the run itself went on, but its proof is incomplete
EXIT_LOG_LOST = 4


def say(msg: str) -> None:
    """A plain line on stderr (no rich: `signage run` stays light without a terminal)."""
    print(msg, file=sys.stderr)


def load_or_exit(config: Path) -> LoadedSite:
    """The site, or each problem on its own line and exit status 1."""
    from .load import load_site
    from .problems import InputError
    from .sanitize import sanitize

    try:
        return load_site(config)
    except InputError as exc:
        for p in exc.problems:  # one line per problem, never wrapped
            print(sanitize(str(p)), file=sys.stderr)
        n = len(exc.problems)
        print(ngettext("{n} problem found; nothing was changed.",
                       "{n} problems found; nothing was changed.", n).format(n=n),
              file=sys.stderr)
        raise SystemExit(1) from None


def duration_or_exit(text: str, what: str) -> float:
    from .timeutil import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        say(f"{what}: {exc}")
        raise SystemExit(3) from None


def summary(rt: Any) -> None:
    for r in rt.runners:
        p99 = r.start_errors.quantile(0.99) * 1000
        say(_("{screen}: {shown} showings, worst gap today {gap} s, start error p99 {p99} ms"
              ).format(screen=r.screen.id, shown=r.shown, gap=f"{r.worst_gap_today:.1f}",
                       p99=f"{p99:.1f}"))


def run_daemon(config: Path, for_: str | None, live: bool) -> None:
    """Run the screens until stopped; SystemExit with the status when it is not 0."""
    from .keys import SigningKeyError
    from .playlog.keyfile import KeyFileError
    from .playlog.logdir import LogDirError
    from .playlog.writer import RecordTooLong
    from .runtime.clock import RealClock
    from .runtime.daemon import RunSettings, Runtime, install_signals
    from .runtime.memtune import tune_malloc

    tune_malloc()
    loaded = load_or_exit(config)
    from .render import release_fonts

    release_fonts()  # the faces of the glyph checks: the first frames open what they draw with
    duration = duration_or_exit(for_, "--for") if for_ else None
    stop = threading.Event()
    try:
        rt = Runtime(loaded, RealClock(stop), RunSettings(duration_s=duration), stop)
        rt.setup()
    except (KeyFileError, SigningKeyError, LogDirError, RecordTooLong, OSError) as exc:
        say(_("cannot start: {error}").format(error=exc))
        raise SystemExit(3) from None
    install_signals(rt)
    say(_("signage {version}: {n} screens, log {log}").format(
        version=__version__, n=len(rt.runners), log=rt.writer.path))
    if live and sys.stdout.isatty():
        from rich.console import Console
        from rich.live import Live

        from .runtime.live import live_table

        title = _("{site} — signage run").format(site=loaded.site.name)
        with Live(live_table(rt.runners, loaded.site.tz, title), console=Console(),
                  refresh_per_second=4) as lv:
            rt.run_real(on_tick=lambda: lv.update(live_table(rt.runners, loaded.site.tz, title)))
    else:  # plain lines: each switch, and a closed screen with its opening time
        from .runtime.plain import PlainLog

        rt.run_real(on_tick=PlainLog(rt.runners, loaded.site.tz).tick)
    rt.finish()
    summary(rt)
    if rt.writer.lost is not None:
        raise SystemExit(EXIT_LOG_LOST)


def plain_run_args(args: list[str]) -> tuple[Path, str | None, bool] | None:
    """(config, --for, live) when ``args`` is ``run`` with only its own options, each at most
    once and with a value that is not empty and does not start with "-"; else None (typer
    then parses the line, with its help, usage errors and messages)."""
    if not args or args[0] != "run":
        return None
    config: str | None = None
    for_: str | None = None
    live: bool | None = None
    i = 1
    while i < len(args):
        a = args[i]
        name, eq, value = a.partition("=") if a.startswith("--") else (a, "", "")
        if a in ("--live", "--no-live"):
            if live is not None:
                return None
            live = a == "--live"
            i += 1
            continue
        if name not in ("--config", "-c", "--for") or (name == "-c" and eq):
            return None
        if not eq:
            if i + 1 >= len(args):
                return None
            value = args[i + 1]
            i += 1
        i += 1
        if not value or value.startswith("-"):
            return None
        if name == "--for":
            if for_ is not None:
                return None
            for_ = value
        else:
            if config is not None:
                return None
            config = value
    return Path(config or "config.toml"), for_, True if live is None else live


def dispatch_plain_run(args: list[str]) -> None:
    """Run ``signage run …`` here and exit, when ``args`` is a plain `run` line; else return."""
    parsed = plain_run_args(args)
    if parsed is None:
        return
    run_daemon(*parsed)
    sys.exit(0)


__all__ = ["EXIT_LOG_LOST", "dispatch_plain_run", "duration_or_exit", "load_or_exit",
           "plain_run_args", "run_daemon", "say", "summary"]
