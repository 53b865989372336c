"""`signage report`: the campaign summary for a period, from the verified log."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from ..i18n import _


def report_command(
    config: Annotated[Path, typer.Option("--config", "-c", help=_("the site's config.toml"))
                      ] = Path("config.toml"),
    from_: Annotated[str | None, typer.Option(
        "--from", help=_("from this instant (site time), e.g. 2026-12-01"))] = None,
    to: Annotated[str | None, typer.Option(
        "--to", help=_("up to this instant (site time); default: the log's last record"))
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help=_("the HTML file to write"))
                   ] = Path("summary.html"),
    pdf: Annotated[Path | None, typer.Option(help=_("also print it to this PDF (Chromium)"))
                   ] = None,
    photos: Annotated[Path | None, typer.Option(
        help=_("site photos to include (default: the console's photos)"))] = None,
) -> None:
    # (the audit, the config's models, keys and the page's templates: only when it runs)
    from ..audit.model import AuditInputError, AuditResult
    from ..audit.reader import discover
    from ..audit.run import Options, run
    from ..audit.spool import Spool
    from ..cliload import config_or_exit
    from ..config import resolve
    from ..keys import SigningKeyError
    from ..playlog.keyfile import KeyFileError, load_key
    from ..sanitize import sanitize
    from .build import build
    from .render import render_html, screen_pictures, site_photos, to_pdf
    from .selftrust import self_trust

    cfg = config_or_exit(config)
    base = config.parent
    log_dir = resolve(base, cfg.log.dir)
    key: bytes | None = None
    try:
        trust = self_trust(cfg, base)
        if trust is None:
            key = load_key(resolve(base, cfg.log.key_file))
    except (KeyFileError, SigningKeyError) as exc:
        print(_("cannot read the log key: {error}").format(error=exc), file=sys.stderr)
        raise typer.Exit(3) from None
    spool = Spool()
    try:
        files, complete = discover([log_dir])
        integrity, compliance = run(files, Options(key=key, period_from=from_, period_to=to,
                                                   on_violation=spool, trust=trust),
                                    complete_dir=complete)
        result = AuditResult(integrity, compliance, spool)
    except AuditInputError as exc:
        print(_("the log cannot be audited: {error}").format(error=sanitize(str(exc))),
              file=sys.stderr)
        raise typer.Exit(3) from None
    finally:
        spool.close()
    summary = build(result, cfg.site, self_checked=trust is not None)
    run_dir = base / "var"
    pictures = {r["screen"]: screen_pictures(run_dir, r["screen"], cfg.tz) for r in summary.screens}
    photo_dir = photos if photos is not None else resolve(base, cfg.console.dir) / "photos"
    html = render_html(summary, pictures, site_photos(photo_dir),
                       datetime.now(cfg.tz).strftime("%Y-%m-%d %H:%M"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, "utf-8")
    print(_("campaign summary written to {path}").format(path=out), file=sys.stderr)
    if pdf is not None:
        why = to_pdf(out, pdf)
        print(why if why else _("PDF written to {path}").format(path=pdf), file=sys.stderr)
    raise typer.Exit(result.exit_code if result.exit_code in (0, 1, 2, 5) else 3)
