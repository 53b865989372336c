"""Log format version 1: one record per line, chained by HMAC-SHA256.

The single home of the byte format; the writer and every reader use these functions.
See docs/log-format.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

VERSION = 1
GENESIS = b"0" * 64
_MAC_HEAD = b',"mac":"'
SUFFIX_LEN = len(_MAC_HEAD) + 64 + 2  # ,"mac":"<64 hex>"}
_HEX = frozenset(b"0123456789abcdef")
COMMON = ("v", "seq", "type", "run", "boot", "wall", "mono")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def mac_of(key: bytes, prev_mac: bytes, prefix: bytes) -> bytes:
    return hmac.digest(key, prev_mac + prefix, hashlib.sha256).hex().encode("ascii")


class Hmac:
    """HMAC-SHA256 (RFC 2104) with the key's pads hashed once: the same digest as ``mac_of``
    at a fraction of the per-call cost. Used by the writer and the audit's verifier."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hexmac(self, prev: bytes, prefix: bytes | memoryview) -> bytes:
        h = self._inner.copy()
        h.update(prev)
        h.update(prefix)
        o = self._outer.copy()
        o.update(h.digest())
        return o.hexdigest().encode("ascii")


def encode(key: bytes | Hmac, prev_mac: bytes, body: dict[str, Any]) -> tuple[bytes, bytes]:
    """Serialise ``body`` (common keys first, in order) and chain it. Returns the line (with
    its newline) and its mac. Pass an ``Hmac`` to skip hashing the key's pads every time."""
    text = _ENCODER.encode(body)
    prefix = text[:-1].encode("utf-8")  # without the closing brace
    mac = key.hexmac(prev_mac, prefix) if isinstance(key, Hmac) else mac_of(key, prev_mac, prefix)
    return prefix + _MAC_HEAD + mac + b'"}\n', mac


def split(line: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, mac) of a line without its newline, or None if it is not shaped like a record."""
    if len(line) <= SUFFIX_LEN or not line.endswith(b'"}'):
        return None
    cut = len(line) - SUFFIX_LEN
    if line[cut:cut + len(_MAC_HEAD)] != _MAC_HEAD:
        return None
    mac = line[cut + len(_MAC_HEAD):-2]
    if not _HEX.issuperset(mac):
        return None
    return line[:cut], mac


def verify(key: bytes, prev_mac: bytes, line: bytes) -> bytes | None:
    """The line's mac if it chains on ``prev_mac`` under ``key``, else None."""
    parts = split(line)
    if parts is None:
        return None
    prefix, mac = parts
    if not hmac.compare_digest(mac_of(key, prev_mac, prefix), mac):
        return None
    return mac


def decode(line: bytes) -> dict[str, Any]:
    """Parse a record line (raises ValueError on anything that is not a JSON object)."""
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj
