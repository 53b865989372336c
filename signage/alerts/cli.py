"""`signage alert …`: take an alert on this box (a signed envelope, e.g. from a USB stick), and
the authority's tools to seal one without the hub. Thin: the work is in envelope.py, cap.py,
state.py; the running daemon takes the file from its drop directory (docs/alerts.md)."""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from ..i18n import _
from .reasons import label

# (the site loader, keys, CAP parser and envelopes are imported by the commands that use them:
# `signage --help` and the other commands start without them, tests/test_cli_imports.py)

alert_app = typer.Typer(add_completion=False, no_args_is_help=True)
#: the largest alert envelope read (signage.alerts.envelope.KINDS["cap-alert"], checked by
#: tests/test_cli_imports.py)
MAX_READ = 128 * 1024


def _fail(msg: str, code: int = 1) -> typer.Exit:
    print(msg, file=sys.stderr)
    return typer.Exit(code)


def _drop_name() -> str:
    """A new name in the daemon's drop directory: the time and a random tag."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def _await_verdict(inbox: Path, name: str, wait: float) -> dict[str, Any] | None:
    """The daemon's verdict on the drop ``name`` (``results/<name>.json`` in the drop
    directory), or None when none came within ``wait`` seconds."""
    result = inbox / "results" / f"{name}.json"
    end = time.monotonic() + wait
    while time.monotonic() < end:
        if result.exists():
            return dict(json.loads(result.read_text("utf-8")))
        time.sleep(0.1)
    return None


def _read(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file (a USB stick is hostile: a FIFO or a link to
    /dev/zero reports 0 bytes and then blocks or never ends)."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise _fail(_("{file}: not a regular file").format(file=path))
        if st.st_size > limit:
            raise _fail(_("{file}: {size} bytes; at most {limit} bytes are accepted").format(
                file=path, size=st.st_size, limit=limit))
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise _fail(_("{file}: more than {limit} bytes").format(file=path, limit=limit))
        return data
    except OSError as exc:
        raise _fail(_("{file}: cannot read: {err}").format(file=path, err=exc.strerror),
                    3) from None


def _copy_at_most(src: Path, dst: Path, limit: int) -> None:
    """Copy ``src`` but never more than ``limit`` bytes (a file that grows while it is read
    is cut there; the daemon's digest check then refuses it)."""
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        left = limit
        while left > 0:
            chunk = fi.read(min(left, 1 << 20))
            if not chunk:
                break
            fo.write(chunk)
            left -= len(chunk)


@alert_app.command("add", help=_(
    "Hand a signed alert to this box's daemon: checked here first (signature, CAP, region, "
    "expiry), then dropped into the daemon's inbox; prints the daemon's verdict."))
def add(file: Annotated[Path, typer.Argument(help=_("a signed alert envelope (.env)"))],
        config: Annotated[Path, typer.Option("--config", "-c")] = Path("config.toml"),
        wait: Annotated[float, typer.Option(help=_("seconds to wait for the daemon"))] = 10.0
        ) -> None:
    """Hand a signed alert to this box's daemon: checked here first (signature, CAP, region,
    expiry), then dropped into the daemon's inbox; prints the daemon's verdict."""
    from ..config import resolve
    from ..keys import PublicKey
    from ..load import load_site
    from ..problems import InputError
    from .cap import CapError, parse_cap
    from .envelope import EnvelopeError, open_envelope
    from .state import AlertBook, Refused

    try:
        loaded = load_site(config)
    except InputError as exc:
        raise _fail("\n".join(str(p) for p in exc.problems), 3) from None
    a = loaded.cfg.authority
    if not a.keys:
        raise _fail(_("{file}: [authority] keys is empty: this box accepts no alerts").format(
            file=config), 3)
    data = _read(file, MAX_READ)
    keys = {k.key_id: k for k in (PublicKey.from_text(t) for t in a.keys)}
    try:
        alert = parse_cap(open_envelope(data, keys, kinds=("cap-alert",)).payload)
    except (EnvelopeError, CapError) as exc:
        raise _fail(_("{file}: refused: {why}").format(file=file, why=exc)) from None
    book = AlertBook(loaded.cfg.site.id, tuple(a.regions), bool(a.drill_screens))
    got = book.receive(alert, datetime.now(UTC))
    if isinstance(got, Refused):
        raise _fail(_("{file}: refused ({reason}): {why}").format(
            file=file, reason=label(got.reason), why=got.message))
    inbox = resolve(loaded.base, a.inbox)
    inbox.mkdir(parents=True, exist_ok=True)
    name = f"{_drop_name()}.env"
    tmp = inbox / f".{name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, inbox / name)
    v = _await_verdict(inbox, name, wait)
    if v is not None:
        if v["accepted"]:
            print(_("alert {id} accepted: it goes on screen at the next switch").format(
                id=alert.identifier))
            return
        raise _fail(_("alert {id} refused by the daemon ({reason}): {why}").format(
            id=alert.identifier, reason=label(v["reason"]), why=v["message"]))
    print(_("alert {id} queued in {dir}: the daemon takes it when it runs "
            "(is `signage run` running?)").format(id=alert.identifier, dir=inbox))


@alert_app.command("seal", help=_(
    "The authority's tool: check a CAP alert and sign it into an envelope (for a USB stick or any "
    "transport; `signage hub alert` does the same and sends it)."))
def seal_cmd(file: Annotated[Path, typer.Argument(help=_("a CAP 1.2 alert (.xml)"))],
             key: Annotated[Path, typer.Option(help=_("the authority's private key (PEM)"))],
             out: Annotated[Path, typer.Option("--out", "-o", help=_("the envelope to write"))]
             ) -> None:
    """The authority's tool: check a CAP alert and sign it into an envelope (for a USB stick
    or any transport; `signage hub alert` does the same and sends it)."""
    from ..keys import SigningKeyError, load_signing_key
    from .cap import CapError, parse_cap
    from .envelope import seal

    data = _read(file, MAX_READ)
    try:
        alert = parse_cap(data)
        k = load_signing_key(key)
    except (CapError, SigningKeyError) as exc:
        raise _fail(f"{file}: {exc}") from None
    try:
        env = seal("cap-alert", data, k)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    out.write_bytes(env)
    print(_("{out}: alert {id} ({type}, {status}) signed with key {kid}").format(
        out=out, id=alert.identifier, type=alert.msg_type, status=alert.status, kid=k.key_id))


@alert_app.command("authority-key", help=_(
    "Create the authority's signing key (mode 0600, never overwritten) and print the public key "
    "line for the boxes' authority keys (config.toml, section authority)."))
def authority_key(path: Annotated[Path, typer.Argument(help=_("where to create the key"))]
                  ) -> None:
    """Create the authority's signing key (mode 0600, never overwritten) and print the public
    key line for the boxes' authority keys (config.toml, section authority)."""
    from ..keys import SigningKeyError, write_new_key

    try:
        k = write_new_key(path)
    except SigningKeyError as exc:
        raise _fail(str(exc)) from None
    print(k.public.text)
    print(_("key id {kid}; fingerprint {fp}").format(kid=k.key_id, fp=k.public.fingerprint),
          file=sys.stderr)


push_app = typer.Typer(add_completion=False, no_args_is_help=True)


@push_app.command("seal", help=_(
    "The authority's tool: sign a playlist and its media into a bundle directory (bundle.env + "
    "media/), for a USB stick; `signage hub publish playlist` sends one."))
def push_seal(playlist: Annotated[Path, typer.Argument(help=_("the playlist (.toml)"))],
              media: Annotated[list[Path] | None, typer.Argument(help=_("its media files"))
                               ] = None,
              key: Annotated[Path, typer.Option(help=_("the authority's private key (PEM)"))
                             ] = Path("authority.key"),
              id_: Annotated[str, typer.Option("--id", help=_("the publication's id"))] = "",
              to: Annotated[list[str] | None, typer.Option(
                  "--to", help=_("all, site:<id> or region:<code>; repeatable"))] = None,
              out: Annotated[Path, typer.Option("--out", "-o", help=_("directory to write"))
                             ] = Path("bundle"),
              serial: Annotated[int, typer.Option(
                  help=_("the publication's serial (default: now, in ms since 1970); a box "
                       "takes only a serial higher than the last of this id"))] = 0) -> None:
    """The authority's tool: sign a playlist and its media into a bundle directory
    (bundle.env + media/), for a USB stick; `signage hub publish playlist` sends one."""
    import time

    from ..keys import SigningKeyError, load_signing_key
    from .bundle import BundleError, make_manifest, next_serial
    from .envelope import seal

    try:
        text = playlist.read_text("utf-8")
        k = load_signing_key(key)
        m = make_manifest(id_ or playlist.stem, to or ["all"], text, media or [],
                          serial or next_serial(time.time(), None))
        env = seal("playlist-bundle", m.to_json(), k)
    except (OSError, UnicodeDecodeError, SigningKeyError, BundleError, ValueError) as exc:
        raise _fail(f"{playlist}: {exc}") from None
    (out / "media").mkdir(parents=True, exist_ok=True)
    (out / "bundle.env").write_bytes(env)
    for p in media or []:
        (out / "media" / p.name).write_bytes(p.read_bytes())
    print(_("{out}: bundle {id} for {to} ({n} media files) signed with key {kid}").format(
        out=out, id=m.id, to=", ".join(m.to), n=len(m.media), kid=k.key_id))


@push_app.command("add", help=_(
    "Hand a signed playlist bundle to this box's daemon, which verifies it, validates the site "
    "with it (all or nothing) and applies it at the next item boundary."))
def push_add(bundle: Annotated[Path, typer.Argument(help=_("a bundle directory (bundle.env, "
                                                          "media/)"))],
             config: Annotated[Path, typer.Option("--config", "-c")] = Path("config.toml"),
             wait: Annotated[float, typer.Option(help=_("seconds to wait for the daemon"))
                             ] = 30.0) -> None:
    """Hand a signed playlist bundle to this box's daemon, which verifies it, validates the
    site with it (all or nothing) and applies it at the next item boundary."""
    from ..config import resolve
    from ..keys import PublicKey
    from ..load import load_site
    from ..problems import InputError
    from .bundle import BundleError, parse_manifest
    from .envelope import KINDS, EnvelopeError, open_envelope

    try:
        loaded = load_site(config)
    except InputError as exc:
        raise _fail("\n".join(str(p) for p in exc.problems), 3) from None
    env = bundle / "bundle.env"
    data = _read(env, KINDS["playlist-bundle"])
    keys = {k.key_id: k for k in (PublicKey.from_text(t) for t in loaded.cfg.authority.keys)}
    try:
        m = parse_manifest(open_envelope(data, keys, kinds=("playlist-bundle",)).payload)
    except (EnvelopeError, BundleError) as exc:
        raise _fail(_("{file}: refused: {why}").format(file=env, why=exc)) from None
    # only the media files the signed manifest lists, regular files, at most one byte over
    # the signed size, are copied (the daemon checks sizes and digests, and logs its verdict):
    # anything else on the stick never reaches the box's disk
    inbox = resolve(loaded.base, loaded.cfg.authority.inbox)
    name = _drop_name()
    tmp = inbox / f".{name}.tmp"
    (tmp / "media").mkdir(parents=True)
    (tmp / "bundle.env").write_bytes(data)
    for x in m.media:
        p = bundle / "media" / x.name
        if p.is_file():
            _copy_at_most(p, tmp / "media" / x.name, x.size + 1)
    os.replace(tmp, inbox / name)
    v = _await_verdict(inbox, name, wait)
    if v is not None:
        if v["accepted"]:
            print(_("bundle {id} accepted: applied at the next item boundary").format(
                id=v["id"]))
            return
        raise _fail(_("bundle {id} rejected ({reason}):\n  {problems}").format(
            id=v["id"], reason=label(v["reason"]), problems="\n  ".join(v["problems"])))
    print(_("bundle queued in {dir}: the daemon takes it when it runs").format(dir=inbox))
