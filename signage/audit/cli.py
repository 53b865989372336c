"""`signage audit`: the typer command around signage.audit.command.main (the options, their help,
the exit code). A plain `signage audit` line is run without typer (signage.audit.command).

Exit codes: 0 compliant and intact, 1 gap-rule violations (log intact or partial), 2 integrity
broken (whatever the violations), 3 unreadable input or usage error, 4 simulated, 5 partial log
(docs/log-format.md, "Verdicts and exit codes")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..i18n import _
from .command import DEFAULT_KEY, FORMATS, MAX_WITNESS_BYTES, main, read_witnesses

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


__all__ = ["DEFAULT_KEY", "FORMATS", "LAST_CODE", "MAX_WITNESS_BYTES", "audit_command", "main",
           "read_witnesses"]
