"""Log format versions 1 and 2: one record per line, chained by HMAC-SHA256 under the site
key (version 1) or by plain SHA-256 (version 2, with signed checkpoints: see v2.py).

The single home of the byte format; the writer and every reader use these functions.
See docs/log-format.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import json.encoder
import os
from collections.abc import Callable
from typing import Any

try:
    from . import _fastlog
except ImportError:  # not built (no compiler where it was installed): the pure-Python path
    _fastlog = None  # type: ignore[assignment]

VERSION = 1
VERSION_2 = 2
VERSIONS = (1, 2)
GENESIS = b"0" * 64
_MAC_HEAD = b',"mac":"'
SUFFIX_LEN = len(_MAC_HEAD) + 64 + 2  # ,"mac":"<64 hex>"}
_HEX = frozenset(b"0123456789abcdef")
COMMON = ("v", "seq", "type", "run", "boot", "wall", "mono")
#: the longest line (bytes, without its newline) the writer makes and a reader accepts; a
#: longer line is damage, and readers never hold more than this of one line in memory
MAX_LINE = 16 << 20


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


class Plain:
    """The version-2 chain: plain SHA-256 of the previous digest and the prefix (no key)."""

    __slots__ = ()

    def hexmac(self, prev: bytes, prefix: bytes | memoryview) -> bytes:
        h = hashlib.sha256(prev)
        h.update(prefix)
        return h.hexdigest().encode("ascii")


PLAIN = Plain()


def chain_of(key: bytes | None) -> Hmac | Plain:
    """The chain of a log: HMAC under ``key`` (version 1), or plain SHA-256 (None: version 2)."""
    return PLAIN if key is None else Hmac(key)


def encode(key: bytes | Hmac | Plain, prev_mac: bytes, body: dict[str, Any],
           ) -> tuple[bytes, bytes]:
    """Serialise ``body`` (common keys first, in order) and chain it. Returns the line (with
    its newline) and its mac. Pass an ``Hmac`` to skip hashing the key's pads every time, or
    ``PLAIN`` for the version-2 chain (``body["v"]`` is then 2)."""
    text = _ENCODER.encode(body)
    # without the closing brace; a lone surrogate (a file name read with surrogateescape, in
    # an error message) becomes the JSON escape \udcXX instead of an exception
    prefix = text[:-1].encode("utf-8", "backslashreplace")
    mac = (mac_of(key, prev_mac, prefix) if isinstance(key, bytes)
           else key.hexmac(prev_mac, prefix))
    return prefix + _MAC_HEAD + mac + b'"}\n', mac


class LineEncoder:
    """The writer's encoder: the same bytes as ``encode`` for a body ``{v, seq, type, run,
    boot, wall, mono, **fields}``, at a fraction of the cost for the records written most
    (``showing_start`` and ``showing``: a fixed set of keys in a fixed order, written by
    string templates). Any other record, or a hot one whose keys or value types differ, goes
    through the JSON encoder. tests/test_log_format.py holds the two to the same bytes.

    The two hot records are made by the compiled encoder (``_fastlog.c``) when it is built and
    not switched off (``SIGNAGE_PURE_PYTHON=1``, or ``compiled=False``); it declines anything
    else, which then takes the Python path."""

    __slots__ = ("_boot", "_fast", "_head", "_hmac", "_run", "_v")

    def __init__(self, key: bytes | None, run: str, boot: str, *,
                 compiled: bool | None = None) -> None:
        """``key``: the site key (version 1, HMAC), or None (version 2, plain SHA-256)."""
        self._hmac = chain_of(key)
        self._v = VERSION if key is not None else VERSION_2
        self._run, self._boot = run, boot
        self._head = f',"run":{_str(run)},"boot":{_str(boot)},"wall":'
        if compiled is None:
            compiled = self.compiled_available(self._v)
        elif compiled and not self.compiled_available(self._v, switch=False):
            raise RuntimeError("the compiled encoder (signage.playlog._fastlog) is not built")
        self._fast = (_fastlog.Encoder(key, run, boot) if compiled and _fastlog is not None
                      and type(run) is str and type(boot) is str
                      and len(run) <= 1 << 20 and len(boot) <= 1 << 20 else None)

    @property
    def compiled_line(self) -> Callable[[bytes, int, str, str, float, dict[str, Any]],
                                        tuple[bytes, bytes] | None] | None:
        """The compiled encoder's ``line`` (None when not in use): the same bytes as
        ``line`` for the records it takes, None for any other (then call ``line``)."""
        return self._fast.line if self._fast is not None else None

    @staticmethod
    def compiled_available(version: int = VERSION, *, switch: bool = True) -> bool:
        """Whether the compiled encoder is built, writes this format version, and (``switch``)
        is not switched off (SIGNAGE_PURE_PYTHON, as for the audit's compiled scanner)."""
        built = _fastlog is not None and (
            version == _fastlog.VERSION
            or getattr(_fastlog, "VERSION_2", None) == version == VERSION_2)
        return built and (not switch
                          or os.environ.get("SIGNAGE_PURE_PYTHON", "") in ("", "0"))

    def line(self, prev_mac: bytes, seq: int, rtype: str, wall: str, mono: float,
             fields: dict[str, Any]) -> tuple[bytes, bytes]:
        """(line with its newline, mac): as ``encode`` would make them."""
        if self._fast is not None:
            got = self._fast.line(prev_mac, seq, rtype, wall, mono, fields)
            if got is not None:
                return got
        try:
            tpl = _PY_TEMPLATES.get(rtype)
            if tpl is not None and tuple(fields) == tpl[0]:
                text = tpl[1](rtype, fields)
            else:
                rest = _ENCODER.encode(fields)
                text = "," + rest[1:-1] if len(rest) > 2 else ""
            if not -_BIG < mono < _BIG or seq is True or seq is False:  # (int.__repr__: 1)
                raise TypeError
            prefix = (f'{{"v":{self._v},"seq":{int.__repr__(seq)},"type":{_str(rtype)}'
                      f'{self._head}{_str(wall)},"mono":{_frepr(mono)}{text}'
                      ).encode("utf-8", "backslashreplace")
        except TypeError:  # a value of another type than the template's: the encoder decides
            body = {"v": self._v, "seq": seq, "type": rtype, "run": self._run,
                    "boot": self._boot, "wall": wall, "mono": mono}
            body.update(fields)
            return encode(self._hmac, prev_mac, body)
        mac = self._hmac.hexmac(prev_mac, prefix)
        return prefix + _MAC_HEAD + mac + b'"}\n', mac


# str -> JSON string (the C function the encoder itself uses; TypeError on anything else)
_str = json.encoder.encode_basestring
_frepr = float.__repr__  # TypeError unless a float (an int or a bool goes to the encoder)
_BIG = 1e300  # NaN and infinities fail `-_BIG < x < _BIG`: the encoder refuses them


def _nstr(v: str | None) -> str:
    return "null" if v is None else _str(v)


def _hot(rtype: str, f: dict[str, Any]) -> str:
    af = f["anti_fraud"]
    if af is not True and af is not False:
        raise TypeError
    if rtype == "showing":
        a, b = f["start_mono"], f["end_mono"]
        if not (-_BIG < a < _BIG and -_BIG < b < _BIG):
            raise TypeError
        return (f',"screen":{_str(f["screen"])},"item":{_str(f["item"])}'
                f',"playlist":{_nstr(f["playlist"])},"kind":{_nstr(f["kind"])}'
                f',"category":{_nstr(f["category"])},"anti_fraud":{"true" if af else "false"}'
                f',"planned":{_str(f["planned"])},"start":{_str(f["start"])}'
                f',"end":{_str(f["end"])},"start_mono":{_frepr(a)},"end_mono":{_frepr(b)}'
                f',"outcome":{_str(f["outcome"])},"reason":{_str(f["reason"])}')
    a, b = f["planned_mono"], f["start_mono"]
    if not (-_BIG < a < _BIG and -_BIG < b < _BIG):
        raise TypeError
    return (f',"screen":{_str(f["screen"])},"item":{_str(f["item"])}'
            f',"anti_fraud":{"true" if af else "false"},"planned":{_str(f["planned"])}'
            f',"planned_mono":{_frepr(a)},"start":{_str(f["start"])},"start_mono":{_frepr(b)}')


#: the key order of the records written by template (the runtime writes them in this order)
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "showing": ("screen", "item", "playlist", "kind", "category", "anti_fraud", "planned",
                "start", "end", "start_mono", "end_mono", "outcome", "reason"),
    "showing_start": ("screen", "item", "anti_fraud", "planned", "planned_mono", "start",
                      "start_mono"),
}


def _heartbeat(_rtype: str, f: dict[str, Any]) -> str:
    """A heartbeat's ``screens`` (runner.status() of each screen), as the encoder writes it."""
    screens = f["screens"]
    if type(screens) is not dict:
        raise TypeError
    out = []
    for sid, st in screens.items():
        if type(st) is not dict or tuple(st) != _HEARTBEAT_SCREEN:
            raise TypeError
        af, since = st["anti_fraud"], st["since_mono"]
        if af is not True and af is not False:
            raise TypeError
        if since is None:
            since_text = "null"
        elif -_BIG < since < _BIG:
            since_text = _frepr(since)
        else:
            raise TypeError
        out.append(f'{_str(sid)}:{{"item":{_nstr(st["item"])},'
                   f'"anti_fraud":{"true" if af else "false"},"since_mono":{since_text}}}')
    return ',"screens":{' + ",".join(out) + "}"


def _checkpoint(_rtype: str, f: dict[str, Any]) -> str:
    """A checkpoint's fields (v2.checkpoint_fields), as the encoder writes them."""
    seq = f["head_seq"]
    if type(seq) is not int:
        raise TypeError
    return (f',"site":{_str(f["site"])},"head_seq":{int.__repr__(seq)},"head":{_str(f["head"])}'
            f',"key":{_str(f["key"])},"next_key":{_nstr(f["next_key"])}'
            f',"reason":{_str(f["reason"])},"sig":{_str(f["sig"])}')


_HEARTBEAT_SCREEN = ("item", "anti_fraud", "since_mono")
#: the records the Python path writes by template (the two hot ones, and the heartbeat and
#: checkpoint, which the compiled encoder leaves to it): key order, and the writer of the rest
_PY_TEMPLATES: dict[str, tuple[tuple[str, ...], Callable[[str, dict[str, Any]], str]]] = {
    "showing": (_TEMPLATES["showing"], _hot),
    "showing_start": (_TEMPLATES["showing_start"], _hot),
    "heartbeat": (("screens",), _heartbeat),
    "checkpoint": (("site", "head_seq", "head", "key", "next_key", "reason", "sig"),
                   _checkpoint),
}


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


def verify(key: bytes | None, prev_mac: bytes, line: bytes) -> bytes | None:
    """The line's mac if it chains on ``prev_mac`` under ``key`` (None: the version-2 plain
    SHA-256 chain), else None."""
    parts = split(line)
    if parts is None:
        return None
    prefix, mac = parts
    want = PLAIN.hexmac(prev_mac, prefix) if key is None else mac_of(key, prev_mac, prefix)
    if not hmac.compare_digest(want, mac):
        return None
    return mac


def loads(text: bytes | str) -> Any:
    """``json.loads``, with nesting too deep for the parser a ValueError like any other
    damage (a log line or a witness is hostile input; json raises RecursionError)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def decode(line: bytes) -> dict[str, Any]:
    """Parse a record line (raises ValueError on anything that is not a JSON object)."""
    obj = loads(line)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj
