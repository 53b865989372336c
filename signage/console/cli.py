"""`signage console` (serve the pages) and its account commands."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..i18n import _
from .auth import ROLES, Users

console_app = typer.Typer(add_completion=False, invoke_without_command=True,
                          help=_("The local web console for site managers (docs/console.md)."))

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help=_("the site's config.toml"))]


def _users(config: Path) -> Users:
    from ..cliload import config_or_exit  # (pydantic: only when a command reads the config)
    from ..config import resolve

    cfg = config_or_exit(config)
    return Users(resolve(config.parent, cfg.console.dir) / "users.json")


@console_app.callback()
def serve(ctx: typer.Context, config: ConfigOpt = Path("config.toml"),
          bind: Annotated[str | None, typer.Option(
              help=_("address to listen on (default: [console] bind, 127.0.0.1)"))] = None,
          port: Annotated[int | None, typer.Option(
              help=_("port (default: [console] port, 8780)"))] = None) -> None:
    """Serve the console until Ctrl-C / SIGTERM."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from ..cliload import config_or_exit
    from .app import make_app

    cfg = config_or_exit(config)
    host = bind or cfg.console.bind
    app = make_app(config.resolve())
    print(_("signage console: http://{host}:{port}/ (Ctrl-C stops)").format(
        host=host, port=port or cfg.console.port), file=sys.stderr)
    uvicorn.run(app, host=host, port=port or cfg.console.port, log_level="warning",
                access_log=False, proxy_headers=False, server_header=False)


@console_app.command("adduser", help=_("Create an account or set its password (asked, or one "
                                       "line on stdin with --password-stdin)."))
def adduser(name: str, role: Annotated[str, typer.Option(
                help=_("admin (管理员) or inspector (检查员)"))] = "inspector",
            config: ConfigOpt = Path("config.toml"),
            password_stdin: Annotated[bool, typer.Option(
                "--password-stdin", help=_("read the password from stdin"))] = False) -> None:
    if role not in ROLES:
        print(_("--role: use admin or inspector"), file=sys.stderr)
        raise typer.Exit(3)
    users = _users(config)
    if password_stdin:
        pw = sys.stdin.readline().rstrip("\n")
    else:
        pw = getpass.getpass(_("password for {name}: ").format(name=name))
        if getpass.getpass(_("again: ")) != pw:
            print(_("the passwords differ; nothing was changed"), file=sys.stderr)
            raise typer.Exit(1)
    try:
        users.set(name, pw, role)
    except ValueError as exc:
        print({"name": _("a name: 1-32 letters, digits, '.', '@', '-', '_'"),
               "role": _("a role: administrator or inspector"),
               "password": _("a password of at least 8 characters")}[str(exc)], file=sys.stderr)
        raise typer.Exit(1) from None
    print(_("account {name} saved ({role})").format(name=name, role=role), file=sys.stderr)


@console_app.command("users", help=_("List the accounts."))
def users_cmd(config: ConfigOpt = Path("config.toml")) -> None:
    for name, role in _users(config).list():
        print(f"{name}\t{role}")


@console_app.command("deluser", help=_("Remove an account."))
def deluser(name: str, config: ConfigOpt = Path("config.toml")) -> None:
    if not _users(config).remove(name):
        print(_("no such account"), file=sys.stderr)
        raise typer.Exit(1)
