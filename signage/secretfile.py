"""Create a secret file (a key) once: mode 0600, written and fsynced in a private temporary
file, then hard-linked into place, so it never exists half-written (a power cut leaves either
no file or a whole one) and an existing file is never overwritten. Used for the site's HMAC
key (playlog/keyfile.py) and the box's signing key (keys.py)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .durable import fsync_dir


def create_secret(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` as above; False when ``path`` already exists (then nothing
    is written). Raises OSError when the directory cannot be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:  # (a short write on a regular file is rare, not impossible)
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    fsync_dir(path.parent)
    return True
