"""`signage new-chain`: the deliberate start of a new log chain with a new key (the old key
was lost, or is replaced). The only way a new key comes next to an existing log.

The old chain is closed, not continued: its files (and its key, when there is one) move into
``<log dir>/chain-<UTC time>/``, where they stay verifiable with that key; a new key is made;
the next start's ``run_start`` (seq 0 of the new chain) carries ``new_chain``: the reason,
when, and where the old chain is with its head. The break is marked in both chains' places.
See docs/log-format.md ("A new chain") and docs/security.md.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..durable import fsync_dir
from ..i18n import _
from . import format as fmt
from .keyfile import create_or_load_key
from .logdir import NEW_CHAIN_NOTE, LogDirError, chain_end, claim, log_files

_ANY_LOG = re.compile(r"^signage-\d{4}-\d{2}-\d{2}(?:\.\d+)?\.jsonl(?:\.gz)?$")


def new_chain(log_dir: Path, key_path: Path, reason: str, field: str) -> dict[str, Any]:
    """Close the chain in ``log_dir`` and prepare a new one; returns the note the next start
    writes into its run_start. Refused while a daemon holds the directory."""
    if not reason.strip():
        raise LogDirError(_("--reason: say why the chain is restarted (e.g. 'key file lost "
                            "with the SD card')"))
    lock = claim(log_dir, field)
    try:
        now = datetime.now(UTC)
        archive = log_dir / f"chain-{now.strftime('%Y%m%dT%H%M%SZ')}"
        end = chain_end(log_files(log_dir))
        moved = sorted(p for p in log_dir.iterdir() if _ANY_LOG.match(p.name) and p.is_file())
        note: dict[str, Any] = {"reason": reason, "at": now.isoformat(timespec="seconds"),
                                "previous_dir": None, "previous_head": None,
                                "previous_key": None}
        if moved:
            archive.mkdir()
            for p in moved:
                os.rename(p, archive / p.name)
            note["previous_dir"] = archive.name
            if end is not None:
                parts = fmt.split(end.last)
                note["previous_head"] = {"file": end.file.name, "seq": end.seq,
                                         "mac": parts[1].decode() if parts else None}
        if key_path.exists():
            if not moved:
                archive.mkdir(exist_ok=True)
            os.rename(key_path, archive / key_path.name)
            note["previous_key"] = f"{archive.name}/{key_path.name}"
        create_or_load_key(key_path)
        tmp = log_dir / (NEW_CHAIN_NOTE + ".tmp")
        tmp.write_text(json.dumps(note, ensure_ascii=False), "utf-8")
        os.replace(tmp, log_dir / NEW_CHAIN_NOTE)
        fsync_dir(log_dir)
        return note
    finally:
        os.close(lock)
