"""`signage inspect PHOTO`: check the inspection code in a phone photo (thin shell around
signage.inspection.check). Exit 0: green; 1: refused; 3: nothing checkable (no photo, no
code, unreadable trust file or log)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from ..i18n import _
from ..sanitize import sanitize

if TYPE_CHECKING:
    from .check import Report

# (the code reader, the trust file and the checks are imported when the command runs:
# `signage --help` and the other commands start without them, tests/test_cli_imports.py)


def _fmt(template: str, fields: tuple[tuple[str, str], ...]) -> str:
    return _(template).format(**{k: sanitize(v) for k, v in fields})


def describe(report: Report, tz: ZoneInfo) -> list[str]:
    """The statement and the findings as lines for people (through signage.i18n._)."""
    from .wording import statement_lines

    st = report.signed.statement
    when = datetime.fromtimestamp(st.time, tz).isoformat()
    lines = statement_lines(st, when, key=True)
    for f in report.findings:
        mark = "✔" if f.ok else "✘"
        lines.append(f"{mark} {_fmt(f.message, f.fields)}")
    lines.append(_("RESULT: GREEN, the code is genuine") if report.ok
                 else _("RESULT: RED, refused"))
    return lines


def inspect_command(
    photo: Annotated[Path, typer.Argument(help=_("a photo of the screen (JPEG, PNG)"))],
    trust: Annotated[Path, typer.Option(help=_("the trust file (docs/trust-file.md)"))] = Path(
        "keys.toml"),
    log: Annotated[Path | None, typer.Option(
        help=_("the site's log directory: check the chain head at the code's seq"))] = None,
    hub: Annotated[str | None, typer.Option(
        help=_("the fleet hub's base URL: check the chain head at the code's seq in the "
             "hub's copy of the log"))] = None,
    at: Annotated[str | None, typer.Option(
        help=_("the time of the photo, ISO 8601 with offset (default: the photo's EXIF time)")
    )] = None,
    tz: Annotated[str, typer.Option(help=_("time zone of an EXIF time without offset"))
                  ] = "Asia/Shanghai",
) -> None:
    """Check the signed inspection code in a photo of a screen."""
    from ..trust import TrustFileError, load_trust
    from .check import InspectError, check, hub_head, log_mac_at, photo_time, read_codes
    from .statement import StatementError, parse

    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        print(_("--tz: unknown time zone {tz!r}").format(tz=tz), file=sys.stderr)
        raise typer.Exit(3) from None
    try:
        keys = load_trust(trust)
    except TrustFileError as exc:
        print(str(exc), file=sys.stderr)
        raise typer.Exit(3) from None
    when: datetime | None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            print(_("--at: {at!r} is not an ISO 8601 time with an offset, e.g. "
                    "2026-12-01T10:00:30+08:00").format(at=at), file=sys.stderr)
            raise typer.Exit(3)
    else:
        when = photo_time(photo, zone) if photo.is_file() else None
    try:
        texts = read_codes(photo)
    except InspectError as exc:
        print(str(exc), file=sys.stderr)
        raise typer.Exit(3) from None
    if not texts:
        print(_("{photo}: no QR code found; take the photo again, closer and without "
                "glare").format(photo=photo), file=sys.stderr)
        raise typer.Exit(3)
    if when is None:
        print(_("{photo}: the photo has no time (EXIF); freshness is not checked: give "
                "--at").format(photo=photo), file=sys.stderr)
    if log is not None and hub is not None:
        print(_("give --log or --hub, not both"), file=sys.stderr)
        raise typer.Exit(3)
    head_at: Callable[[int], tuple[str, str] | None] | None = None
    if log is not None:
        log_dir = log

        def head_at(seq: int) -> tuple[str, str] | None:
            return log_mac_at(log_dir, seq)

    refused = False
    checked = 0
    for text in texts:
        if hub is not None:
            try:
                hub_site = parse(text).statement.site
            except StatementError:
                hub_site = ""
            head_at = functools.partial(hub_head, hub, hub_site)
        try:
            report = check(text, keys, int(when.timestamp()) if when else None, head_at)
        except StatementError as exc:
            print(_("a QR code that is not a signage inspection code: {err}").format(
                err=exc), file=sys.stderr)
            continue
        except InspectError as exc:
            print(str(exc), file=sys.stderr)
            raise typer.Exit(3) from None
        checked += 1
        for line in describe(report, zone):
            print(line)
        if report.findings[0].ok:  # the signature verified: worth keeping as a witness
            print(_("keep the next line (e.g. in codes.txt) for: signage audit LOG "
                    "--witness codes.txt"))
            print(sanitize(text))
        refused = refused or not report.ok
    if not checked:
        raise typer.Exit(3)
    if refused:
        raise typer.Exit(1)


__all__ = ["describe", "inspect_command"]
