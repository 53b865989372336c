"""`signage keys` (generate, show, rotate) and `signage checkpoint`: the box's signing key and
its latest signed checkpoint, for registration and for witnesses. Thin: the key handling is
signage/keys.py and signage/playlog/boxkey.py, the format docs/log-format.md and docs/keys.md.
"""

from __future__ import annotations

import glob
import sys
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .i18n import _
from .sanitize import sanitize

if TYPE_CHECKING:
    from .keys import PublicKey, SigningKey
    from .playlog.v2 import Checkpoint
    from .trust import Trust

# (keys, the log's format and the trust file are imported by the commands: `signage --help`
# and the other commands start without them, tests/test_cli_imports.py)

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
    from .keys import SigningKeyError, write_new_key

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
    from .keys import PublicKey, SigningKeyError, load_signing_key
    from .playlog.boxkey import next_path

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
    from .keys import SigningKeyError, load_signing_key, write_new_key
    from .playlog.boxkey import next_path

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


def latest_checkpoint(log_dir: Path) -> tuple[bytes, bytes | None, Path] | None:
    """The last checkpoint line in the log directory (newest file first), the line before it
    in the same file when it is there, and the file."""
    from .playlog.writer import log_files

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
        for i in range(len(lines) - 1, -1, -1):
            if b'"type":"checkpoint"' in lines[i][:120]:
                return lines[i], (lines[i - 1] if i > 0 else None), path
    return None


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    """What `signage checkpoint` could verify of the line it prints: ``problems`` (each a
    reason the checkpoint is not good: printed as bad, exit 2), ``vouched`` (who verified the
    signature: the box's key, a retired key of the box, the trust file), ``unchecked`` (what
    could not be checked and why)."""

    problems: tuple[str, ...]
    vouched: tuple[str, ...]
    unchecked: tuple[str, ...]


def check_checkpoint(cp: Checkpoint, line: bytes, prev: bytes | None,
                     box_keys: dict[str, PublicKey] | None, box_key_error: str | None,
                     trust: Trust | None, trust_src: str | None) -> CheckpointCheck:
    """Verify a parsed checkpoint (pure): its link on the previous record and the head it
    names (when that record is at hand), its signature by one of the box's own keys
    (``box_keys``: key id → the current key and retired ones), and by the key the trust file
    registers for its site at its wall time."""
    from .playlog import format as fmt
    from .playlog.v2 import verify_link

    problems: list[str] = []
    vouched: list[str] = []
    unchecked: list[str] = []
    if prev is not None:
        prev_parts = fmt.split(prev)
        if prev_parts is None:
            problems.append(_("the record before it is damaged"))
        else:
            prev_mac = prev_parts[1]
            if cp.head.encode("ascii") != prev_mac:
                problems.append(_("its head {head} is not the previous record's digest "
                                  "{prev}").format(head=cp.head, prev=prev_mac.decode()))
            if verify_link(prev_mac, line) is None:
                problems.append(_("its own digest does not chain on the previous record "
                                  "(the line was edited)"))
    else:
        unchecked.append(_("the chain link (it opens its file)"))
    if box_keys is None:
        unchecked.append(_("the box's key: {error}").format(error=box_key_error or "?"))
    else:
        pub = box_keys.get(cp.key)
        if pub is None:
            problems.append(_("signed by key {key}, which is not this box's key ({own})").format(
                key=cp.key, own=", ".join(sorted(box_keys)) or "-"))
        elif not cp.verify(pub):
            problems.append(_("its signature does not verify with the box's key {key}").format(
                key=cp.key))
        else:
            vouched.append(_("the box's key {key}").format(key=cp.key))
    if trust is not None:
        tk = trust.key_for(cp.site, cp.key)
        try:
            at: datetime | None = datetime.fromisoformat(cp.wall)
        except ValueError:
            at = None
        if tk is None:
            problems.append(_("{file}: no key {key} registered for site {site}").format(
                file=trust_src, key=cp.key, site=cp.site))
        elif at is None or at.tzinfo is None or not tk.valid_at(at):
            problems.append(_("{file}: key {key} does not speak for site {site} at {wall}").format(
                file=trust_src, key=cp.key, site=cp.site, wall=cp.wall))
        elif not cp.verify(tk.public):
            problems.append(_("its signature does not verify with the key {key} that {file} "
                              "registers").format(key=cp.key, file=trust_src))
        else:
            vouched.append(_("{file} (site {site})").format(file=trust_src, site=cp.site))
    return CheckpointCheck(tuple(problems), tuple(vouched), tuple(unchecked))


def _box_keys(path: Path) -> tuple[dict[str, PublicKey] | None, str | None]:
    """The box's public keys by key id: the current one and every retired one kept next to it
    (a rotation checkpoint is signed by the key it retires)."""
    from .keys import SigningKeyError, load_signing_key

    try:
        cur = load_signing_key(path)
    except SigningKeyError as exc:
        return None, str(exc)
    keys = {cur.key_id: cur.public}
    for old in path.parent.glob(glob.escape(path.name) + ".retired-*"):
        try:
            k = load_signing_key(old)
        except SigningKeyError:
            continue
        keys[k.key_id] = k.public
    return keys, None


def checkpoint_command(
    config: ConfigOpt = Path("config.toml"),
    log: Annotated[Path | None, typer.Option(
        "--log", help=_("the log directory (default: the config's [log] dir)"))] = None,
    key: KeyOpt = None,
    trust: Annotated[Path | None, typer.Option(
        "--trust", help=_("also verify with the key an inspectors' trust file registers"))] = None,
) -> None:
    """Print the box's latest signed checkpoint as one line (the line exactly as in the log),
    verified first: its signature with the box's own key (and with --trust's, if given), its
    link on the record before it. Keep it, photograph it or paste it; `signage audit --witness
    FILE` checks a log against it later. A checkpoint that fails is not printed on stdout:
    exit 2, the reasons on stderr."""
    from .playlog.v2 import CheckpointError, parse_checkpoint
    from .trust import TrustFileError, load_trust

    if log is None:
        base, sec = _log_section(config)
        rel = Path(str(sec.get("dir", "var/log")))
        log = rel if rel.is_absolute() else base / rel
    if not log.is_dir():
        raise _fail(_("{dir}: no log directory").format(dir=log))
    tr: Trust | None = None
    if trust is not None:
        try:
            tr = load_trust(trust)
        except TrustFileError as exc:
            raise _fail(str(exc)) from None
    found = latest_checkpoint(log)
    if found is None:
        raise _fail(_("{dir}: no checkpoint in the log (format 2 writes one every 30 s; is "
                      "[log] format = 2 set?)").format(dir=log), 1)
    line, prev, path = found
    text = line.decode("utf-8", "replace")
    try:
        cp = parse_checkpoint(line)
    except CheckpointError as exc:
        raise _fail(_("{file}: the latest checkpoint is damaged: {error}\n{line}").format(
            file=path, error=exc, line=text), 2) from None
    box_keys, key_error = _box_keys(_key_path(config, key))
    got = check_checkpoint(cp, line, prev, box_keys, key_error, tr,
                           str(trust) if trust is not None else None)
    if got.problems:
        print(sanitize(_("{file}: the latest checkpoint (seq {seq}) is NOT good:").format(
            file=path, seq=cp.seq)), file=sys.stderr)
        for p in got.problems:
            print("  - " + sanitize(p), file=sys.stderr)
        print(sanitize(text), file=sys.stderr)
        raise typer.Exit(2)
    sys.stdout.write(text + "\n")
    print(_("site {site}, seq {seq}, head {head}, {wall}, key {key}").format(
        site=sanitize(cp.site), seq=cp.head_seq, head=cp.head, wall=sanitize(cp.wall),
        key=cp.key), file=sys.stderr)
    for v in got.vouched:
        print(sanitize(_("signature verified with {who}").format(who=v)), file=sys.stderr)
    for u in got.unchecked:
        print(sanitize(_("not checked: {what}").format(what=u)), file=sys.stderr)
    if not got.vouched:
        print(_("the signature was NOT verified (no key at hand: give --key or --trust)"),
              file=sys.stderr)
        raise typer.Exit(1)
