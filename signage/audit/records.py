"""Reading one record off the scanner's fast path: with format.decode, slowly and exactly,
to say what is wrong or to read what the fast path does not expect (other key orders,
escapes, new keys)."""

from __future__ import annotations

import re
from typing import Any

from ..i18n import _
from ..playlog import format as fmt
from .events import (
    AF,
    CLOCK,
    CONFIG,
    DROPPED,
    MARK,
    MARK_TYPES,
    RUN_STOP,
    SEAL,
    SHOW_FAILED,
    TORN_NOTE,
    ChunkScan,
)
from .timeparse import mono_ms, wall_ms

_HEADER = re.compile(
    rb'\{"v":(\d+),"seq":(-?\d+),"type":"([a-z_]+)","run":"([^"\\]*)","boot":"([^"\\]*)",'
    rb'"wall":"([^"\\]*)","mono":(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)[,}]')
def slow_header(line: bytes, ver: int = fmt.VERSION,
                ) -> tuple[int, int, str, str, str, bytes, bytes] | str:
    """(v, seq, type, run, boot, wall, mono) of a line off the fast path, or what is wrong."""
    m = _HEADER.match(line)
    if m is not None:
        return (int(m.group(1)), int(m.group(2)), utf8(m.group(3)), utf8(m.group(4)),
                utf8(m.group(5)), m.group(6), m.group(7))
    parts = fmt.split(line)
    if parts is None:
        return _("not shaped like a log record (no digest at the end)")
    try:
        rec = fmt.decode(parts[0] + b"}")
    except ValueError:
        return _("not valid JSON")
    if not isinstance(rec.get("v"), int):
        return _("no format version")
    if rec["v"] != ver:
        return f"v={rec['v']}"
    try:
        return (int(rec["v"]), int(rec["seq"]), str(rec["type"]), str(rec["run"]),
                str(rec["boot"]), str(rec["wall"]).encode(), str(rec["mono"]).encode())
    except (KeyError, TypeError, ValueError):
        return _("the common keys (v, seq, type, run, boot, wall, mono) are missing or malformed")


def utf8(raw: bytes) -> str:
    # a damaged line may hold any bytes: it is judged by its digest, never a crash
    return raw.decode(errors="replace")


def json_str(raw: bytes) -> str:
    if b"\\" in raw:
        v = fmt.decode(b'{"s":"' + raw + b'"}')["s"]
        return str(v)
    return raw.decode("utf-8", "replace")


def showing(events: list[tuple[Any, ...]], store: dict[str, list[bytes]], sid: str,
             item: str, category: str | None, af: bool, start: bytes, end: bytes,
             start_mono: bytes, end_mono: bytes, outcome: bytes, boot: str) -> None:
    if af and outcome == b"failed":
        events.append((MARK, SHOW_FAILED, sid, wall_ms(end), mono_ms(end_mono), boot, item))
    elif af:
        sp = store.pop(sid, None)
        events.append((AF, sid, item, category, wall_ms(start), wall_ms(end),
                       mono_ms(start_mono), mono_ms(end_mono), boot, outcome == b"completed",
                       None if sp is None else tuple(sp)))
    else:
        wall_ms(start)
        wall_ms(end)  # well-formed, or ValueError
        sp = store.get(sid)
        if sp is None:
            store[sid] = [start, end]
        else:
            sp[1] = end


def decode_rec(out: ChunkScan, line: bytes, idx: int, seq: int, what: str) -> dict[str, Any] | None:
    try:
        return fmt.decode(line)
    except ValueError:
        out.problem("unreadable", idx, seq, _("{what} record is not valid JSON").format(what=what))
        return None


def showing_slow(out: ChunkScan, events: list[tuple[Any, ...]], store: dict[str, list[bytes]],
                  line: bytes, idx: int, seq: int, boot: str,
                  screens: frozenset[str] | None) -> None:
    rec = decode_rec(out, line, idx, seq, "showing")
    if rec is None:
        return
    try:
        sid = str(rec["screen"])
        if screens is not None and sid not in screens:
            return
        cat = rec.get("category")
        outcome = str(rec["outcome"])
        if outcome not in ("completed", "cut_short", "failed"):
            raise ValueError(f"outcome {outcome!r}")
        if not isinstance(rec["anti_fraud"], bool):
            raise ValueError(_("anti_fraud is not a boolean"))
        showing(events, store, sid, str(rec["item"]), None if cat is None else str(cat),
                 rec["anti_fraud"], str(rec["start"]).encode(), str(rec["end"]).encode(),
                 _num(rec["start_mono"]), _num(rec["end_mono"]), outcome.encode(), boot)
    except (KeyError, TypeError, ValueError) as exc:
        out.problem("unreadable", idx, seq,
                    _("showing record lacks or garbles a field ({exc}); not "
                      "counted").format(exc=exc))


def _num(v: Any) -> bytes:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"not a number: {v!r}")
    return repr(float(v)).encode()


def rare(out: ChunkScan, events: list[tuple[Any, ...]], line: bytes, idx: int, seq: int,
          rtype: str, run: str, boot: str, wall: int, mono: int,
          screens: frozenset[str] | None) -> None:
    rec = decode_rec(out, line, idx, seq, rtype)
    if rec is None:
        return
    try:
        if rtype == "run_start" or (rtype == "reload" and rec.get("accepted") is True):
            rec.pop("mac", None)
            events.append((CONFIG, seq, wall, mono, boot, run, rec))
        elif rtype in MARK_TYPES:
            sid = str(rec["screen"])
            if screens is None or sid in screens:
                text = rec.get("reason") or rec.get("message") or rec.get("error") or ""
                events.append((MARK, MARK_TYPES[rtype], sid, wall, mono, boot,
                               str(text)[:200]))
        elif rtype == "clock_step":
            events.append((CLOCK, wall, mono_ms(float(rec["step_s"])), mono, boot))
        elif rtype == "dropped":
            events.append((DROPPED, wall, mono, boot, int(rec["count"]),
                           mono_ms(float(rec["first_mono"])), mono_ms(float(rec["last_mono"]))))
        elif rtype == "run_stop":
            events.append((RUN_STOP, wall, mono, boot, str(rec.get("reason", ""))))
        elif rtype == "torn_tail":
            events.append((TORN_NOTE, seq, str(rec["file"]), int(rec["offset"]),
                           int(rec["length"]), str(rec["sha256"])))
        elif rtype == "seal":
            events.append((SEAL, idx, seq, str(rec["next_file"])))
    except (KeyError, TypeError, ValueError) as exc:
        out.problem("unreadable", idx, seq, _("{rtype} record lacks or garbles a field "
                                              "({exc})").format(rtype=rtype, exc=exc))
