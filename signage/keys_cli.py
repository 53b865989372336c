"""`signage keys` (generate, show, rotate) and `signage checkpoint`: the box's signing key and
its latest signed checkpoint, for registration and for witnesses. Thin: the key handling is
signage/keys.py and signage/playlog/boxkey.py, the format docs/log-format.md and docs/keys.md.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Annotated

import typer

from .i18n import _
from .keys import PublicKey, SigningKey, SigningKeyError, load_signing_key, write_new_key
from .playlog.boxkey import next_path
from .playlog.v2 import CheckpointError, parse_checkpoint
from .playlog.writer import log_files
from .render import sanitize

keys_app = typer.Typer(add_completion=False, no_args_is_help=True,
                       help=_("The box's Ed25519 signing key (log format 2): generate, show, "
                              "rotate."))

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help=_("the site's config.toml"))]
KeyOpt = Annotated[Path | None, typer.Option(
    "--key", help=_("the private key file (default: the config's [log] signing_key, "
                    "var/signing.key)"))]
#: a checkpoint is written at least every 30 s: the last one is in a log file's last MiBs
TAIL_BYTES = 4 << 20


def _fail(msg: str, code: int = 3) -> typer.Exit:
    print(sanitize(msg), file=sys.stderr)
    return typer.Exit(code)


def _log_section(config: Path) -> tuple[Path, dict[str, object]]:
    """The config's directory and its [log] table (read without loading the whole site:
    these commands must work when a playlist is broken)."""
    try:
        doc = tomllib.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return config.parent, {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _fail(_("{file}: cannot read: {error}").format(file=config, error=exc)) from None
    log = doc.get("log", {})
    return config.parent, log if isinstance(log, dict) else {}


def _key_path(config: Path, key: Path | None) -> Path:
    if key is not None:
        return key
    base, log = _log_section(config)
    rel = log.get("signing_key", "var/signing.key")
    p = Path(str(rel))
    return p if p.is_absolute() else base / p


def _show(pub: PublicKey, path: Path | None) -> None:
    if path is not None:
        print(_("key file:    {path}").format(path=path))
    print(_("public key:  {key}").format(key=pub.text))
    print(_("key id:      {id}").format(id=pub.key_id))
    print(_("fingerprint: {fp}").format(fp=pub.fingerprint))
    print(_("For the inspectors' trust file (docs/trust-file.md):"))
    print(f'  [[site.key]]\n  public = "{pub.text}"\n  valid_from = <YYYY-MM-DDThh:mm:ss+08:00>')


@keys_app.command("generate", help=_(
    "Make the box's key pair (private key mode 0600, never overwritten) and print the public "
    "key and its fingerprint for registration."))
def generate(config: ConfigOpt = Path("config.toml"), key: KeyOpt = None) -> None:
    """Make the box's key pair (private key mode 0600, never overwritten) and print the public
    key and its fingerprint for registration."""
    path = _key_path(config, key)
    try:
        made = write_new_key(path)
    except (SigningKeyError, OSError) as exc:
        raise _fail(str(exc)) from None
    _show(made.public, path)


@keys_app.command("show", help=_(
    "Print the public key, its key id and fingerprint (to register, or to compare aloud)."))
def show(config: ConfigOpt = Path("config.toml"), key: KeyOpt = None,
         public: Annotated[str | None, typer.Option(
             "--public", help=_("show a public key given as text (ed25519:…) instead"))] = None,
         ) -> None:
    """Print the public key, its key id and fingerprint (to register, or to compare aloud)."""
    if public is not None:
        try:
            _show(PublicKey.from_text(public), None)
        except SigningKeyError as exc:
            raise _fail(f"--public: {exc}") from None
        return
    path = _key_path(config, key)
    try:
        got = load_signing_key(path)
    except SigningKeyError as exc:
        raise _fail(str(exc)) from None
    _show(got.public, path)
    nxt = next_path(path)
    if nxt.exists():
        print(_("a rotation is pending: {file} (the daemon takes it up within its reload "
                "check, or at its next start)").format(file=nxt))


@keys_app.command("rotate", help=_(
    "Prepare a new key. The daemon (running: within its reload check; else at its next start) "
    "writes a rotation checkpoint signed by the current key that names the new one, then signs "
    "with the new key only; the old file is kept as .retired-<key id>."))
def rotate(config: ConfigOpt = Path("config.toml"), key: KeyOpt = None) -> None:
    """Prepare a new key. The daemon (running: within its reload check; else at its next
    start) writes a rotation checkpoint signed by the current key that names the new one,
    then signs with the new key only; the old file is kept as .retired-<key id>."""
    path = _key_path(config, key)
    try:
        old: SigningKey = load_signing_key(path)
        made = write_new_key(next_path(path))
    except (SigningKeyError, OSError) as exc:
        raise _fail(str(exc)) from None
    print(_("current key id: {id}").format(id=old.key_id))
    print(_("new key prepared: {file}").format(file=next_path(path)))
    _show(made.public, None)
    print(_("The rotation checkpoint (signed by {old}) makes audits trust the new key from "
            "that point; register the new public key too.").format(old=old.key_id))


def latest_checkpoint(log_dir: Path) -> bytes | None:
    """The last checkpoint line in the log directory (newest file first)."""
    for path in reversed(log_files(log_dir)):
        try:
            with open(path, "rb") as fh:
                size = fh.seek(0, 2)
                start = max(0, size - TAIL_BYTES)
                fh.seek(start)
                data = fh.read(TAIL_BYTES)
        except OSError:
            continue
        lines = data.split(b"\n")
        if start > 0:
            lines = lines[1:]  # the first may be a part of a line
        for line in reversed(lines):
            if b'"type":"checkpoint"' in line[:120]:
                return line
    return None


def checkpoint_command(
    config: ConfigOpt = Path("config.toml"),
    log: Annotated[Path | None, typer.Option(
        "--log", help=_("the log directory (default: the config's [log] dir)"))] = None,
) -> None:
    """Print the box's latest signed checkpoint as one line (the line exactly as in the log):
    keep it, photograph it or paste it; `signage audit --witness FILE` checks a log against
    it later."""
    if log is None:
        base, sec = _log_section(config)
        rel = Path(str(sec.get("dir", "var/log")))
        log = rel if rel.is_absolute() else base / rel
    if not log.is_dir():
        raise _fail(_("{dir}: no log directory").format(dir=log))
    line = latest_checkpoint(log)
    if line is None:
        raise _fail(_("{dir}: no checkpoint in the log (format 2 writes one every 30 s; is "
                      "[log] format = 2 set?)").format(dir=log), 1)
    try:
        cp = parse_checkpoint(line)
    except CheckpointError as exc:
        raise _fail(_("{dir}: the latest checkpoint is damaged: {error}").format(
            dir=log, error=exc), 2) from None
    sys.stdout.write(line.decode("utf-8", "replace") + "\n")
    print(_("site {site}, seq {seq}, head {head}, {wall}, key {key}").format(
        site=sanitize(cp.site), seq=cp.head_seq, head=cp.head, wall=sanitize(cp.wall),
        key=cp.key), file=sys.stderr)
