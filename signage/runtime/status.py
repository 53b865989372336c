"""The daemon's live state for the console: ``<run_dir>/status.json`` (docs/status-file.md).

Written by ``signage run`` about every second (and at start and stop), atomically: a temporary
file in the same directory, then a rename, so a reader never sees half a document. It is a view
for people, never evidence: the proof is the log. ``status_doc`` is a pure function of the
runners' state and the time; ``write_status`` is the only part that touches the disk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .runner import ScreenRunner

VERSION = 1
NAME = "status.json"
CHANGE_NOTE = "console-change.json"


def status_doc(runners: Sequence[ScreenRunner], *, site_id: str, site_name: str, tz: ZoneInfo,
               now: float, pid: int, started: float, run_dir: Path, mode: str,
               state: str = "running", last_reload: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """The document: the site, the daemon, and per screen what is on and how the rule stands."""
    screens: list[dict[str, Any]] = []
    for r in runners:
        sc = r.screen
        on = r.on
        cur: dict[str, Any] | None = None
        if on is not None:
            cur = {"item": on.item.id, "anti_fraud": on.item.anti_fraud,
                   "category": on.item.category, "kind": on.item.kind.value,
                   "text": on.item.text, "path": on.item.path,
                   "since": datetime.fromtimestamp(on.start_wall, tz).isoformat(
                       timespec="milliseconds")}
        nxt = r.next
        frame = frame_of(run_dir, sc.id)
        screens.append({
            "id": sc.id, "label": sc.label, "driver": sc.driver,
            "width": sc.width, "height": sc.height,
            "up": r.up, "on": cur,
            "open": on is not None or (nxt is not None and nxt.start_ms / 1000 <= now + 1),
            "next_start": (datetime.fromtimestamp(nxt.start_ms / 1000, tz).isoformat(
                timespec="seconds") if nxt is not None else None),
            "next_af_in_s": _round(r.seconds_to_next_af()),
            "worst_gap_today_s": round(r.worst_gap_today, 1),
            "shown": r.shown,
            "frame": frame.relative_to(run_dir).as_posix() if frame is not None else None,
        })
    return {
        "version": VERSION, "state": state, "mode": mode,
        "written": datetime.fromtimestamp(now, tz).isoformat(timespec="milliseconds"),
        "written_epoch": round(now, 3), "pid": pid,
        "started": datetime.fromtimestamp(started, tz).isoformat(timespec="seconds"),
        "site": {"id": site_id, "name": site_name, "tz": str(tz)},
        "last_reload": last_reload, "screens": screens,
    }


#: where drivers keep each screen's current picture, under the run directory: the simulator's
#: frame, the picture an LED board acknowledged (drivers/led/driver.py), and mpv's screenshot
#: (drivers/mpv/driver.py)
FRAMES = ("sim/{id}.png", "frames/{id}.png", "frames/{id}.jpg")


def frame_of(run_dir: Path, screen_id: str) -> Path | None:
    """The screen's current picture, if its driver keeps one."""
    for f in FRAMES:
        p = run_dir / f.format(id=screen_id)
        if p.is_file():
            return p
    return None


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def write_status(run_dir: Path, doc: dict[str, Any]) -> None:
    """Replace ``<run_dir>/status.json`` atomically (no fsync: it is rewritten every second
    and a lost one after a power cut says nothing the log does not)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / NAME
    tmp = run_dir / f".{NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), "utf-8")
    os.replace(tmp, path)


def take_change_note(run_dir: Path, digests: dict[str, str]) -> dict[str, Any] | None:
    """The console's note on the change the daemon is reloading (who made it), consumed.

    The console writes ``<run_dir>/console-change.json`` = {"user", "role", "files":
    {name: sha256}} before it replaces a playlist file. The note is used (and removed) only when
    every file it names has that digest in the site being reloaded: a note that does not match
    what was loaded vouches for nothing and is left for the console to see as not applied."""
    path = run_dir / CHANGE_NOTE
    try:
        note = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(note, dict) or not isinstance(note.get("files"), dict):
        return None
    by_name = {Path(k).name: v for k, v in digests.items()}
    if any(by_name.get(str(n)) != d for n, d in note["files"].items()):
        return None
    try:
        path.unlink()
    except OSError:
        pass
    user = str(note.get("user", ""))[:64]
    return {"user": user, "role": str(note.get("role", ""))[:16], "via": "console"}
