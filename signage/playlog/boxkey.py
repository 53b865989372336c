"""The box side of the signing key (format 2): load it at start, create it on a first start,
and take up a rotation prepared by ``signage keys rotate``.

A rotation is prepared offline as ``<signing_key>.next`` (a new key, mode 0600). The daemon,
at start and at every reload check, writes the rotation checkpoint (signed by the current key,
naming the new one) and then moves the new key into place; the old key is kept as
``<signing_key>.retired-<key id>`` (mode 0600) until the operator deletes it. A crash between
the two steps leaves the ``.next`` file: the next start writes the rotation again, which the
audit accepts (a repeated rotation to the same key).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..durable import fsync_dir
from ..i18n import _
from ..keys import SigningKey, SigningKeyError, load_signing_key, write_new_key
from .logdir import file_version, log_files


def next_path(path: Path) -> Path:
    return path.with_name(path.name + ".next")


def box_signing_key(path: Path, log_dir: Path, say: Callable[[str], None]) -> SigningKey:
    """The box's signing key. Missing: created when the log directory holds no format-2 log
    (a first start, or a box upgraded from format 1, whose new format-2 part chains on the
    format-1 head; its public key is printed for registration), refused when it holds one (a
    key lost or replaced would silently start a chain that no registered key vouches for)."""
    if path.exists() or path.is_symlink():
        return load_signing_key(path)
    if any(file_version(p) != 1 and _holds_bytes(p) for p in log_files(log_dir)):
        # a file of format 2, or one whose version cannot be read: when in doubt, refuse
        raise SigningKeyError(_(
            "{path}: signing key not found, but {dir} holds a log: the key was lost or moved. "
            "Put it back; or, deliberately, create a new one with: signage keys generate (then "
            "register its public key: checkpoints signed by it are trusted only once it is in "
            "the inspectors' trust file)").format(path=path, dir=log_dir))
    key = write_new_key(path)
    say(_("created the signing key {path} (key id {id}); register its public key: {key}").format(
        path=path, id=key.key_id, key=key.public.text))
    return key


def _holds_bytes(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return True


def pending_rotation(path: Path) -> SigningKey | None:
    """The new key prepared by ``signage keys rotate``, if any (SigningKeyError if unusable)."""
    nxt = next_path(path)
    if not nxt.exists():
        return None
    return load_signing_key(nxt)


def finish_rotation(path: Path, old: SigningKey) -> None:
    """After the rotation checkpoint is written and synced: the new key takes the old one's
    place (the old kept as .retired-<id>). Each step is a rename, fsynced."""
    nxt = next_path(path)
    retired = path.with_name(f"{path.name}.retired-{old.key_id}")
    if not retired.exists():
        os.link(path, retired)
    os.replace(nxt, path)
    fsync_dir(path.parent)
