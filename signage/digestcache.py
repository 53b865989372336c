"""A small JSON cache of results keyed by a file's content digest (SHA-256): one file, a format
version, atomic replace. Used by the media check (signage/mediacheck.py) and the mpv driver's
ffprobe cache (drivers/mpv/probe.py). A damaged or older cache reads as empty; a cache that
cannot be written only costs the work again next time."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def file_digest(path: Path) -> str:
    """SHA-256 of the file's content, 64 lowercase hex digits (raises OSError)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_entries(cache_file: Path, version: int) -> dict[str, Any]:
    """The cache's entries; empty when the file is missing, unreadable, damaged or of another
    version."""
    try:
        doc = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(doc, dict) or doc.get("version") != version:
        return {}
    entries = doc.get("entries")
    return entries if isinstance(entries, dict) else {}


def save_entries(cache_file: Path, version: int, entries: dict[str, Any]) -> bool:
    """Replace the cache atomically; False when it cannot be written."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{cache_file.stem}-", suffix=".json",
                                   dir=cache_file.parent)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"version": version, "entries": entries}, fh, indent=1, sort_keys=True)
        os.replace(tmp, cache_file)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return False
    return True
