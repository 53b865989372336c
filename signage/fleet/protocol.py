"""Fleet protocol version 1: topics and payloads (docs/fleet.md). Pure functions, shared by
the box's shipper and the hub. Network input is hostile: every decoder checks sizes, types
and names and raises ProtocolError with what was wrong."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

FV = 1
PREFIX = "signage/v1"
MAX_PAYLOAD = 1 << 20  # the hub refuses more
MAX_CHUNK = 256 << 10  # the box sends at most this many log bytes per chunk
MAX_HEADER = 1024
KINDS = ("log", "ack", "status", "checkpoint", "online")
SITE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FILE_RE = re.compile(r"^signage-(\d{4}-\d{2}-\d{2})(?:\.(\d+))?\.jsonl$")


class ProtocolError(ValueError):
    """A payload or topic that does not follow the contract."""


def topic(prefix: str, site: str, kind: str) -> str:
    return f"{prefix}/{site}/{kind}"


def parse_topic(prefix: str, name: str) -> tuple[str, str]:
    """(site, kind) of a topic under ``prefix``."""
    if not name.startswith(prefix + "/"):
        raise ProtocolError(f"topic {name!r} is not under {prefix!r}")
    rest = name[len(prefix) + 1:].split("/")
    if len(rest) < 2 or not SITE_RE.match(rest[0]):
        raise ProtocolError(f"topic {name!r}: no valid site id after {prefix!r}")
    return rest[0], "/".join(rest[1:])


@dataclass(frozen=True, slots=True)
class Chunk:
    file: str
    offset: int
    seq: int | None
    n: int
    data: bytes
    torn: bool = False

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


def _header(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def encode_chunk(c: Chunk) -> bytes:
    h: dict[str, Any] = {"fv": FV, "file": c.file, "offset": c.offset, "seq": c.seq, "n": c.n}
    if c.torn:
        h["torn"] = True
    return _header(h) + b"\n" + c.data


def _int(obj: dict[str, Any], key: str, what: str, *, null: bool = False) -> int | None:
    v = obj.get(key)
    if v is None and null:
        return None
    if type(v) is not int or v < 0:
        raise ProtocolError(f"{what}: {key!r} must be an integer ≥ 0, got {v!r}"[:200])
    return v


def _obj(raw: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(f"{what}: not JSON ({exc})"[:200]) from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"{what}: not a JSON object")
    if obj.get("fv") != FV:
        raise ProtocolError(f"{what}: fleet protocol version {obj.get('fv')!r}, "
                            f"this hub reads {FV}"[:200])
    return obj


def _file(obj: dict[str, Any], what: str) -> str:
    name = obj.get("file")
    if not isinstance(name, str) or not FILE_RE.match(name):
        raise ProtocolError(f"{what}: 'file' must be a log file name "
                            f"signage-YYYY-MM-DD[.N].jsonl, got {name!r}"[:200])
    return name


def decode_chunk(payload: bytes) -> Chunk:
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"chunk of {len(payload)} bytes: at most {MAX_PAYLOAD}")
    nl = payload.find(b"\n", 0, MAX_HEADER + 1)
    if nl < 0:
        raise ProtocolError(f"chunk: no header line within {MAX_HEADER} bytes")
    h = _obj(payload[:nl], "chunk header")
    data = payload[nl + 1:]
    torn = h.get("torn", False) is True
    n = _int(h, "n", "chunk header")
    seq = _int(h, "seq", "chunk header", null=True)
    off = _int(h, "offset", "chunk header")
    assert n is not None and off is not None
    lines = data.count(b"\n")
    if not torn and lines != n:
        raise ProtocolError(f"chunk header says {n} lines, the data holds {lines}")
    if not torn and n and not data.endswith(b"\n"):
        raise ProtocolError("chunk: the data does not end with a whole line")
    if n and seq is None:
        raise ProtocolError("chunk header: 'seq' is null but lines follow")
    return Chunk(_file(h, "chunk header"), off, seq, n, data, torn)


@dataclass(frozen=True, slots=True)
class Ack:
    file: str | None  # None only in a reset: the hub holds nothing of the site
    offset: int
    seq: int | None
    at: str = ""
    #: the hub's copy ends here although the box may think it holds more (a chunk did not
    #: continue it): the box ships from here at once, even if that is backwards
    reset: bool = False


def encode_ack(a: Ack) -> bytes:
    h: dict[str, Any] = {"fv": FV, "file": a.file, "offset": a.offset, "seq": a.seq,
                         "at": a.at}
    if a.reset:
        h["reset"] = True
    return _header(h)


def decode_ack(payload: bytes) -> Ack:
    if len(payload) > MAX_HEADER:
        raise ProtocolError(f"ack of {len(payload)} bytes: at most {MAX_HEADER}")
    h = _obj(payload, "ack")
    reset = h.get("reset", False) is True
    at = h.get("at", "")
    at = at if isinstance(at, str) else ""
    if reset and h.get("file") is None:
        return Ack(None, 0, None, at, True)
    off = _int(h, "offset", "ack")
    seq = _int(h, "seq", "ack", null=True)
    assert off is not None
    return Ack(_file(h, "ack"), off, seq, at, reset)


def encode_json(obj: dict[str, Any]) -> bytes:
    return json.dumps({"fv": FV, **obj}, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def decode_json(payload: bytes, what: str, limit: int = 256 << 10) -> dict[str, Any]:
    if len(payload) > limit:
        raise ProtocolError(f"{what} of {len(payload)} bytes: at most {limit}")
    return _obj(payload, what)


def file_order(name: str) -> tuple[str, int]:
    """Sort key of a log file name: date, then part."""
    m = FILE_RE.match(name)
    if m is None:
        raise ProtocolError(f"not a log file name: {name!r}")
    return m.group(1), int(m.group(2) or 0)


SEQ_RE = re.compile(rb'^\{"v":(\d+),"seq":(\d+),')


def line_seq(line: bytes) -> int | None:
    """The seq a record line starts with (every log version writes v then seq first)."""
    m = SEQ_RE.match(line)
    return int(m.group(2)) if m else None
