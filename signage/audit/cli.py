"""`signage audit`: the command. Parses options, loads the key, runs the audit, prints.

Exit codes: 0 compliant and intact, 1 gap-rule violations (log intact or partial), 2 integrity
broken (whatever the violations), 3 unreadable input or usage error, 4 simulated, 5 partial log
(docs/log-format.md, "Verdicts and exit codes")."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

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
PROGRESS_BYTES = 32 << 20
FORMATS = ("table", "json", "csv")
#: the exit code of the last audit run in this process (None: none ran)
LAST_CODE: int | None = None


def audit_command(
    paths: Annotated[list[Path] | None, typer.Argument(
        help=_("Log files (signage-YYYY-MM-DD[.N].jsonl, also .jsonl.gz) or directories of "
               "them."),
        show_default=False)] = None,
    from_: Annotated[str | None, typer.Option(
        "--from", help=_("Audit from this instant (site time): 2026-11-01, "
        "2026-11-01T08:00, today. Default: the log's first record."))] = None,
    to: Annotated[str | None, typer.Option(
        "--to", help=_("Audit up to this instant (site time). Default: the log's last record."))
    ] = None,
    screen: Annotated[list[str] | None, typer.Option(
        "--screen", help=_("Only this screen id (repeat for several)."))] = None,
    max_gap: Annotated[str | None, typer.Option(
        "--max-gap", help=_("The limit between anti-fraud showings, e.g. 60 or 60s. Default: "
        "the rule max_gap_s recorded in the log."))] = None,
    key: Annotated[Path | None, typer.Option(
        "--key", help=_("The site key file that signed the log (the daemon's \\[log] key_file; "
        "default {path} in the current directory).").format(path=DEFAULT_KEY))] = None,
    format_: Annotated[str, typer.Option(
        "--format", help=_("Output: table (for people), json or csv (for tools; documented in "
        "docs/log-format.md)."))] = "table",
    report: Annotated[Path | None, typer.Option(
        "--report", help=_("Also write a self-contained HTML report to this file."))] = None,
    anchor: Annotated[bool, typer.Option(
        "--anchor", help=_("Print the chain head as FILE:SEQ:MAC (keep it; check it later with "
        "--expect-anchor)."))] = False,
    expect_anchor: Annotated[str | None, typer.Option(
        "--expect-anchor", metavar="FILE:SEQ:MAC", help=_("Prove the log still holds this head "
        "(printed earlier by --anchor): a cut-off or rewritten tail is detected."))] = None,
    jobs: Annotated[str | None, typer.Option(
        "--jobs", help=_("Worker processes that verify files in parallel. Default: one for a "
        "log under 32 MiB, else one per CPU that the machine's load leaves idle (at least one)."
        " The results are the same whatever the number."))] = None,
    trust: Annotated[Path | None, typer.Option(
        "--trust", help=_("The trust file (docs/trust-file.md): the sites' public keys (needed "
        "for a format-2 log: signed checkpoints) and registered profiles (rule, hours, "
        "screens: the yardstick; every configuration in the log that differs is flagged); "
        "no secret."))] = None,
    witness: Annotated[list[Path] | None, typer.Option(
        "--witness", help=_("A file of checkpoints kept outside the box (printed by signage "
        "checkpoint, or the hub's store; repeat for several): a log that disagrees with one "
        "was rewritten."))] = None,
    simulated: Annotated[bool, typer.Option(
        "--simulated", help=_("Preview: judge a log of `signage simulate` by its figures (exit "
        "0 or 1) instead of exit 4. It stays marked as simulated, never proof of play."))
    ] = False,
) -> None:
    """Audit a proof-of-play log: its integrity, then the gap rule per screen and day.

    Integrity: the hash chain (format 1: HMAC with the site key, --key; format 2: SHA-256 and
    checkpoints signed by the box's Ed25519 key, checked with the public keys of --trust and
    against --witness copies), sequence numbers, files and seals, monotonic time. Then, per screen and local day inside opening hours, every gap between
    anti-fraud showings longer than the limit, with its cause.

    Exit codes: 0 compliant and intact, 1 violations, 2 integrity broken, 3 unreadable input or usage error, 4 a simulated log (never proof of play), 5 a partial log (starts after seq 0: not intact, no violation in what could be verified)."""  # noqa: E501
    code = main(paths or [], from_=from_, to=to, screen=screen, max_gap=max_gap, key=key,
                format_=format_, report=report, anchor=anchor, expect_anchor=expect_anchor,
                jobs=jobs, trust=trust, witness=witness, simulated=simulated)
    global LAST_CODE
    LAST_CODE = code
    raise typer.Exit(code)


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
