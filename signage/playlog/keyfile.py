"""The per-site HMAC key: 32 random bytes as 64 hex digits, in a file of mode 0600."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from ..i18n import _


class KeyFileError(Exception):
    """The key file is unusable (wrong mode, wrong content, unreadable)."""


def load_key(path: Path) -> bytes:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(_("{path}: key file not found").format(path=path)) from None
    except OSError as exc:
        raise KeyFileError(_("{path}: cannot read key file: {error}").format(
            path=path, error=exc.strerror)) from None
    if not stat.S_ISREG(st.st_mode):
        what = _("a directory") if stat.S_ISDIR(st.st_mode) else _("not a regular file")
        raise KeyFileError(_("{path}: the key file is {what}; it must be a file of 64 hex "
                             "digits (mode 0600)").format(path=path, what=what))
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(_("{path}: key file is accessible by group or others (mode "
                             "{mode}); run: chmod 600 {path}").format(
                                 path=path, mode=f"{stat.S_IMODE(st.st_mode):o}"))
    try:
        with open(path, "rb") as fh:
            raw = fh.read(256).strip()
    except OSError as exc:
        raise KeyFileError(_("{path}: cannot read key file: {error}").format(
            path=path, error=exc.strerror)) from None
    if len(raw) != 64 or not all(c in b"0123456789abcdef" for c in raw):
        raise KeyFileError(_("{path}: not a signage key (expected 64 lowercase hex digits)"
                             ).format(path=path))
    return raw


def create_or_load_key(path: Path) -> bytes:
    """Load the key, creating it if absent: written and fsynced in a private temporary file,
    then hard-linked into place, so the key file never exists half-written (a power cut
    leaves either no key or a whole one) and an existing key is never overwritten."""
    if path.exists():
        return load_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode("ascii")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process made it first: use theirs
    finally:
        os.unlink(tmp)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return load_key(path)
