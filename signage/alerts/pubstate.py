"""The box's pushed state (docs/alerts.md, "Pushed state and the proof log"): per publication
slot (a bundle id), the highest serial accepted, what was accepted and whether it is applied
or withdrawn. Pure: the file's bytes in and out, and the rules that use it.

The state decides replays: a bundle or withdrawal whose signed serial is not higher than the
slot's is refused. Compared with what lies under ``.pushed/``, it shows a directory removed
or replaced on the box (``discrepancies``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ..i18n import N_, _

STATE_FILE = "publications.json"
FORMAT = "signage-pushed-state"
VERSION = 1
MAX_STATE_BYTES = 1 << 20
#: a slot's state as people read it (the file keeps the code)
STATES = {"applied": N_("applied"), "withdrawn": N_("withdrawn")}


@dataclass(frozen=True, slots=True)
class Slot:
    serial: int
    digest: str  # SHA-256 of the signed payload (the manifest or the withdrawal)
    env_sha256: str  # SHA-256 of bundle.env as put in place ("" for a withdrawal)
    key_id: str
    state: str  # "applied" | "withdrawn"


def replay(slots: dict[str, Slot], bid: str, serial: int) -> str | None:
    """Why a bundle or withdrawal of slot ``bid`` with ``serial`` is refused, or None."""
    kept = slots.get(bid)
    if kept is None or serial > kept.serial:
        return None
    return _("{id}: serial {serial} is not newer than serial {kept} already accepted here "
             "({state}); an older publication is never applied again").format(
        id=bid, serial=serial, kept=kept.serial, state=_(STATES.get(kept.state, kept.state)))


def parse_state(data: bytes) -> dict[str, Slot] | None:
    """The slots in the file's bytes, or None when they are not a state file of ours."""
    if len(data) > MAX_STATE_BYTES:
        return None
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT \
            or doc.get("version") != VERSION or not isinstance(doc.get("slots"), dict):
        return None
    out: dict[str, Slot] = {}
    for bid, v in doc["slots"].items():
        try:
            slot = Slot(**v)
        except TypeError:
            return None
        if not (isinstance(slot.serial, int) and isinstance(slot.digest, str)
                and isinstance(slot.env_sha256, str) and isinstance(slot.key_id, str)
                and slot.state in ("applied", "withdrawn")):
            return None
        out[str(bid)] = slot
    return out


def dump_state(slots: dict[str, Slot]) -> bytes:
    return json.dumps({"format": FORMAT, "version": VERSION,
                       "slots": {k: asdict(v) for k, v in sorted(slots.items())}},
                      separators=(",", ":")).encode("utf-8")


def discrepancies(slots: dict[str, Slot], present: dict[str, str | None]
                  ) -> list[tuple[str, str]]:
    """(slot id, found) for each disagreement between the state and ``.pushed/``:
    ``present`` maps each directory there to the SHA-256 of its bundle.env (None when it
    cannot be read). found: ``missing`` (applied, directory gone), ``altered`` (a different
    bundle.env), ``unrecorded`` (a directory the state does not name as applied)."""
    out: list[tuple[str, str]] = []
    for bid, slot in sorted(slots.items()):
        if slot.state != "applied":
            continue
        if bid not in present:
            out.append((bid, "missing"))
        elif present[bid] != slot.env_sha256:
            out.append((bid, "altered"))
    for bid in sorted(present):
        s = slots.get(bid)
        if s is None or s.state != "applied":
            out.append((bid, "unrecorded"))
    return out
