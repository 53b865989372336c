"""The per-site HMAC key: 32 random bytes as 64 hex digits, in a file of mode 0600."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path


class KeyFileError(Exception):
    """The key file is unusable (wrong mode, wrong content, unreadable)."""


def load_key(path: Path) -> bytes:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: key file not found") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path}: key file is accessible by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):o});"
            f" run: chmod 600 {path}"
        )
    try:
        raw = path.read_bytes().strip()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key file: {exc.strerror}") from None
    if len(raw) != 64 or not all(c in b"0123456789abcdef" for c in raw):
        raise KeyFileError(f"{path}: not a signage key (expected 64 lowercase hex digits)")
    return raw


def create_or_load_key(path: Path) -> bytes:
    """Load the key, creating it (mode 0600, atomically, never overwriting) if absent."""
    if path.exists():
        return load_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return load_key(path)
