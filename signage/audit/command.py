"""`signage audit`'s body, without typer: check the options, load the keys, run the audit,
print. signage.audit.cli is the typer command around :func:`main`; :func:`dispatch_plain_audit`
runs a plain `signage audit` command line here before signage.cli imports typer (like
signage.runcmd for `signage run`): the same :func:`main`, so the same messages and exit codes.

Exit codes: 0 compliant and intact, 1 gap-rule violations (log intact or partial), 2 integrity
broken (whatever the violations), 3 unreadable input or usage error, 4 simulated, 5 partial log
(docs/log-format.md, "Verdicts and exit codes")."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..i18n import _
from ..sanitize import sanitize
from .model import EXIT_BROKEN, EXIT_INPUT, EXIT_OK, AuditInputError

if TYPE_CHECKING:
    from .model import AuditResult, Compliance, Integrity
    from .reader import LogFile
    from .run import Options
    from .signed import Witness

# The audit's machinery (reader, scanner, compliance engine, trust file, output) is imported
# when the command runs, not when `signage` starts: `signage --help` and the other commands
# need none of it (tests/test_cli_imports.py).

DEFAULT_KEY = Path("var/site.key")
#: the reader closed stdout early (SIGPIPE's shell status); no verdict was delivered whole
EXIT_PIPE = 141
PROGRESS_BYTES = 32 << 20
FORMATS = ("table", "json", "csv")


def _fail(message: str) -> int:
    print(f"signage audit: {sanitize(message)}", file=sys.stderr)
    return EXIT_INPUT


def main(paths: list[Path], *, from_: str | None = None, to: str | None = None,
         screen: list[str] | None = None, max_gap: str | None = None, key: Path | None = None,
         format_: str = "table", report: Path | None = None, anchor: bool = False,
         expect_anchor: str | None = None, jobs: str | None = None,
         trust: Path | None = None, witness: list[Path] | None = None,
         simulated: bool = False) -> int:
    try:
        return _main(paths, from_, to, screen, max_gap, key, format_, report, anchor,
                     expect_anchor, jobs, trust, witness or [], simulated)
    except AuditInputError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail(_("interrupted"))
    except BrokenPipeError:
        # the reader closed the pipe (`signage audit … | head`): the verdict was not delivered
        # whole. Exit as a process killed by SIGPIPE does (128 + 13), quietly, and keep the
        # interpreter's final flush from writing to the closed pipe again
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE
    except Exception as exc:  # never a traceback for the inspector
        if os.environ.get("SIGNAGE_DEBUG"):
            raise
        return _fail(_("internal error: {error} (a bug; set SIGNAGE_DEBUG=1 to see where)"
                       ).format(error=f"{type(exc).__name__}: {exc}"))


def _main(paths: list[Path], from_: str | None, to: str | None, screen: list[str] | None,
          max_gap: str | None, key: Path | None, format_: str, report: Path | None,
          anchor: bool, expect_anchor: str | None, jobs: str | None, trust: Path | None,
          witness: list[Path], simulated: bool = False) -> int:
    from ..playlog import format as fmt
    from ..playlog.keyfile import KeyFileError, load_key
    from ..timeutil import parse_duration
    from ..trust import Trust, TrustFileError, load_trust
    from .integrity import Anchor
    from .model import AuditResult
    from .reader import discover
    from .run import Options, default_jobs, run
    from .spool import Spool

    if format_ not in FORMATS:
        raise AuditInputError(f"--format {format_!r}: " + _("use one of {choices}").format(
            choices=", ".join(FORMATS)))
    try:
        limit = parse_duration(max_gap) if max_gap is not None else None
    except ValueError as exc:
        raise AuditInputError(f"--max-gap: {exc}") from None
    if limit is not None and limit <= 0:
        raise AuditInputError("--max-gap: " + _("must be more than 0 s"))
    n_jobs: int | None = None  # (chosen by the log's size and the machine's load)
    if jobs is not None:
        if not jobs.isdigit() or not 1 <= int(jobs) <= 256:
            raise AuditInputError(f"--jobs {jobs!r}: " + _("a number of processes, 1 to 256"))
        n_jobs = int(jobs)
    try:
        want = Anchor.parse(expect_anchor) if expect_anchor else None
    except ValueError as exc:
        raise AuditInputError(f"--expect-anchor: {exc}") from None
    if report is not None and report.is_dir():
        raise AuditInputError(f"--report {report}: " + _("is a directory; name an .html file"))
    files, complete = discover(paths)
    site_key: bytes | None = None
    if any(f.version == fmt.VERSION for f in files) or key is not None:
        key_path = key or DEFAULT_KEY
        if key is None and not key_path.exists():
            raise AuditInputError(_("no key: pass --key FILE, the site key file that signed "
                                    "the log (the daemon's [log] key_file; {path} by default)"
                                    ).format(path=DEFAULT_KEY))
        try:
            site_key = load_key(key_path)
        except KeyFileError as exc:
            raise AuditInputError(str(exc)) from None
    trusted: Trust | None = None
    if trust is not None:
        try:
            trusted = load_trust(trust)
        except TrustFileError as exc:
            raise AuditInputError(str(exc)) from None
    witnesses = read_witnesses(witness)
    if witnesses and trusted is None:
        raise AuditInputError("--witness: " + _("needs --trust: a witness counts only when its "
                                                "signature verifies with a trusted key"))
    total = sum(f.size for f in files)
    if n_jobs is None:
        n_jobs = default_jobs(total, len(os.sched_getaffinity(0)), os.getloadavg()[0])
    spool = Spool()
    opts = Options(key=site_key, max_gap_s=limit, period_from=from_, period_to=to,
                   screens=screen or None, anchor=want, jobs=n_jobs, on_violation=spool,
                   trust=trusted, witnesses=witnesses)
    try:
        if sys.stderr.isatty() and total >= PROGRESS_BYTES:
            integrity, compliance = _with_progress(files, opts, total, complete)
        else:
            integrity, compliance = run(files, opts, complete_dir=complete)
        result = AuditResult(integrity, compliance, spool, preview_simulated=simulated)
        return _output(result, format_, report, anchor)
    finally:
        spool.close()


#: a witness file is a few hundred bytes per checkpoint; a hub's store for one site and a year
#: is ~300 MB at one checkpoint per 30 s, so witnesses are read up to this size per file
MAX_WITNESS_BYTES = 512 << 20


def read_witnesses(paths: list[Path]) -> list[Witness]:
    """The witnessed checkpoints in ``paths`` (docs/log-format.md, "Witnesses"): all or
    nothing, a bad line names its file and line."""
    if not paths:
        return []
    from ..inspection.witness import NotACode, code_witness  # (only with --witness)
    from ..playlog.v2 import CheckpointError, parse_checkpoint, witness_lines
    from .signed import Witness

    out: list[Witness] = []
    for p in paths:
        try:
            if not p.is_file():
                raise AuditInputError(f"--witness {p}: " + _("not a regular file"))
            if p.stat().st_size > MAX_WITNESS_BYTES:
                raise AuditInputError(f"--witness {p}: " + _("larger than {n} MiB").format(
                    n=MAX_WITNESS_BYTES >> 20))
            data = p.read_bytes()
        except OSError as exc:
            raise AuditInputError(f"--witness {p}: " + _("cannot read: {error}").format(
                error=exc.strerror)) from None
        try:
            for n, raw in enumerate(data.split(b"\n"), 1):
                try:  # an on-screen inspection code (a hub scan, a code URL, a payload)
                    code = code_witness(raw)
                except NotACode as exc:
                    raise AuditInputError(f"--witness {p}:{n}: {exc}") from None
                if code is not None:
                    out.append(Witness(f"{p}:{n}", code))
                    continue
                for _n, line in witness_lines(raw, f"{p}:{n}"):
                    try:
                        cp = parse_checkpoint(line)
                    except CheckpointError as exc:
                        raise AuditInputError(f"--witness {p}:{n}: " + _(
                            "not a checkpoint: {error}").format(error=exc)) from None
                    out.append(Witness(f"{p}:{n}", cp))
        except CheckpointError as exc:
            raise AuditInputError(f"--witness {exc}") from None
    return out


def _with_progress(files: list[LogFile], opts: Options, total: int,
                   complete: bool) -> tuple[Integrity, Compliance]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(TextColumn("verifying"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True, auto_refresh=False) as bar:
        task = bar.add_task("log", total=total)
        opts.progress = lambda done: bar.update(task, completed=done, refresh=True)
        from .run import run

        return run(files, opts, complete_dir=complete)


def _output(result: AuditResult, format_: str, report: Path | None, anchor: bool) -> int:
    from .output import write_csv, write_json, write_table

    if report is not None:
        from .report_html import write_report  # pillow and fonts only when asked for

        try:
            write_report(result, report)
        except OSError as exc:
            raise AuditInputError(f"--report {report}: " + _("cannot write: {error}").format(
                error=exc.strerror)) from None
    if anchor:
        head = result.integrity.head
        if not result.integrity.unbroken or head is None:
            for x in result.integrity.findings[:20]:
                print(sanitize(x.text()), file=sys.stderr)
            print("signage audit: " + _("the log's integrity is broken: no anchor to print"),
                  file=sys.stderr)
            return EXIT_BROKEN
        if format_ == "json":
            import json

            print(json.dumps({"file": head[0], "seq": head[1], "mac": head[2]}))
        else:
            print(f"{head[0]}:{head[1]}:{head[2]}")
        return EXIT_OK
    if format_ == "json":
        write_json(result, sys.stdout)
    elif format_ == "csv":
        write_csv(result, sys.stdout)
    else:
        from rich.console import Console  # (only for the table: JSON and CSV need none)

        write_table(result, Console(highlight=False))
    return result.exit_code


#: `signage audit`'s options that take a value: name → keyword of :func:`main`; the two that
#: may be repeated collect a list
_VALUED = {"--from": "from_", "--to": "to", "--screen": "screen", "--max-gap": "max_gap",
           "--key": "key", "--format": "format_", "--report": "report",
           "--expect-anchor": "expect_anchor", "--jobs": "jobs", "--trust": "trust",
           "--witness": "witness"}
_REPEATED = ("--screen", "--witness")
_PATHS = ("--key", "--report", "--trust", "--witness")
_FLAGS = {"--anchor": "anchor", "--simulated": "simulated"}


def plain_audit_args(args: list[str]) -> tuple[list[Path], dict[str, Any]] | None:
    """(paths, keywords of :func:`main`) when ``args`` is ``audit`` with only its own options,
    in their plain forms (``--opt VALUE``, ``--opt=VALUE``, a flag), each single-valued one at
    most once, every value not empty and not starting with "-", and paths that do not start
    with "-"; else None: typer then parses the line, with its help, usage errors and
    messages (``--help``, an unknown or misspelt option, ``--``, ``-`` and the rest)."""
    if not args or args[0] != "audit":
        return None
    paths: list[Path] = []
    kw: dict[str, Any] = {}
    i = 1
    while i < len(args):
        a = args[i]
        i += 1
        if not a.startswith("-"):
            paths.append(Path(a))
            continue
        if a in _FLAGS:
            if _FLAGS[a] in kw:
                return None
            kw[_FLAGS[a]] = True
            continue
        name, eq, value = a.partition("=")
        if name not in _VALUED:
            return None
        if not eq:
            if i >= len(args):
                return None
            value = args[i]
            i += 1
        if not value or value.startswith("-"):
            return None
        key = _VALUED[name]
        got: Any = Path(value) if name in _PATHS else value
        if name in _REPEATED:
            kw.setdefault(key, []).append(got)
        elif key in kw:
            return None
        else:
            kw[key] = got
    return paths, kw


def dispatch_plain_audit(args: list[str]) -> None:
    """Run ``signage audit …`` here and exit with its code, when ``args`` is a plain audit
    line (:func:`plain_audit_args`); else return."""
    parsed = plain_audit_args(args)
    if parsed is None:
        return
    paths, kw = parsed
    sys.exit(main(paths, **kw))
