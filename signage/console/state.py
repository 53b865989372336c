"""The console's reading of the daemon's status file (docs/status-file.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..runtime.status import NAME, VERSION

#: a status older than this means the daemon is not running (it writes one every second)
STALE_S = 5.0


def read_status(run_dir: Path, now: float | None = None) -> dict[str, Any]:
    """The last status document, with ``live`` (fresh and from a running daemon) and ``age_s``
    added; ``{"live": False, "screens": []}`` when there is none or it cannot be read."""
    now = time.time() if now is None else now
    try:
        doc = json.loads((run_dir / NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return {"live": False, "screens": [], "age_s": None, "missing": True}
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        return {"live": False, "screens": [], "age_s": None, "missing": True}
    age = now - float(doc.get("written_epoch", 0))
    doc["age_s"] = round(age, 1)
    doc["live"] = doc.get("state") == "running" and age <= STALE_S
    return doc
