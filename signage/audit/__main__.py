"""`python -m signage.audit PATH...`: the audit command on its own (the same as `signage
audit`). Here command-line usage errors (an unknown option, say) exit 3 like every other
usage error of the audit, not with the parser's usual 2, which means "integrity broken"."""

from __future__ import annotations


def main() -> None:
    import gc
    import sys

    gc.disable()  # (run.py keeps it off during the audit; the imports make no cycles to free)

    # a plain command line runs without typer, as `signage audit` does (signage/audit/command.py)
    from .command import dispatch_plain_audit

    dispatch_plain_audit(["audit", *sys.argv[1:]])

    import typer

    from . import cli

    app = typer.Typer(add_completion=False)
    app.command()(cli.audit_command)
    try:
        app()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 3)
        if cli.LAST_CODE is None and code not in (0, 3):
            code = 3  # the parser refused the command line before the audit ran
        sys.exit(code)


if __name__ == "__main__":
    main()
