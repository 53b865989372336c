"""Log format version 2: the plain SHA-256 chain and the signed ``checkpoint`` record.

A small, pure verification API for every reader of version-2 logs (the audit, the fleet hub,
inspection codes): no file access, no clock. The byte format is docs/log-format.md
("Format version 2"); the canonical signed bytes there are a contract others implement, and
``canonical_bytes`` is its one implementation here.

- ``chain_digest(prev, prefix)``: SHA-256 of the previous digest (64 ASCII hex) and a prefix;
- ``verify_link(prev, line)``: the line's digest if it chains on ``prev``, else None;
- ``parse_checkpoint(line)``: a ``Checkpoint`` from a checkpoint line, or CheckpointError;
- ``Checkpoint.verify(public_key)``: the signature over ``canonical_bytes()``;
- ``checkpoint_fields(...)``: what the writer puts in a checkpoint record (signs it).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import re
from dataclasses import dataclass
from typing import Any

from ..i18n import _
from ..keys import PublicKey, SigningKey, SigningKeyError
from . import format as fmt

VERSION = 2
TAG = "signage-checkpoint-v2"
#: a checkpoint line is a few hundred bytes; a witness file's line longer than this is not one
MAX_CHECKPOINT_LINE = 4096
REASONS = ("interval", "seal", "run_stop", "shutdown", "rotate")
#: |mono| beyond this has no exact whole number of milliseconds as a float (2**53 ms)
MAX_MONO_S = 2**53 / 1000


class CheckpointError(ValueError):
    """A line is not a well-formed checkpoint record; the message says which field and why."""


def chain_digest(prev: bytes, prefix: bytes | memoryview) -> bytes:
    """``SHA-256(prev + prefix)`` as 64 lowercase ASCII hex digits."""
    return fmt.PLAIN.hexmac(prev, prefix)


def verify_link(prev: bytes, line: bytes) -> bytes | None:
    """The line's digest if the line (without its newline) chains on ``prev``, else None."""
    parts = fmt.split(line)
    if parts is None:
        return None
    prefix, mac = parts
    if not hmac.compare_digest(chain_digest(prev, prefix), mac):
        return None
    return mac


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _has_control(s: str) -> bool:
    """Whether ``s`` holds a C0 control character or DEL (one search, not a Python loop
    per character: the writer asks for every field of every checkpoint)."""
    return _CONTROL.search(s) is not None


def canonical_bytes(*, site: str, head_seq: int, head: str, wall: str, mono: float,
                    boot: str, key: str, next_key: str | None) -> bytes:
    """The bytes a checkpoint's signature covers (docs/log-format.md). Raises CheckpointError
    when a value cannot be put in them unambiguously (a control character)."""
    nk = next_key or ""
    if _has_control(site + head + wall + boot + key + nk):  # one search; which field: below
        for name, v in (("site", site), ("head", head), ("wall", wall), ("boot", boot),
                        ("key", key), ("next_key", nk)):
            if _has_control(v):
                raise CheckpointError(_("{name}: holds a control character").format(
                    name=name))
    if type(head_seq) is not int or head_seq < 0:
        raise CheckpointError(_("head_seq: expected an integer >= 0"))
    if not (math.isfinite(mono) and -MAX_MONO_S <= mono <= MAX_MONO_S):
        raise CheckpointError(_("mono: expected a finite number of seconds"))
    mono_ms = round(mono * 1000)
    return (f"{TAG}\nsite={site}\nseq={head_seq}\nhead={head}\nwall={wall}\n"
            f"mono_ms={mono_ms}\nboot={boot}\nkey={key}\nnext_key={next_key or ''}\n"
            ).encode()


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64u(text: str) -> bytes | None:
    if len(text) != 86 or not text.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "==")
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 64 and _b64u(raw) == text else None


def checkpoint_fields(key: SigningKey, *, site: str, head_seq: int, head: str, wall: str,
                      mono: float, boot: str, reason: str,
                      next_key: PublicKey | None = None) -> dict[str, Any]:
    """The type-specific fields of a checkpoint record, in the documented order, signed by
    ``key``. ``wall``, ``mono`` and ``boot`` must be the record's own common values."""
    nk = next_key.text if next_key is not None else None
    msg = canonical_bytes(site=site, head_seq=head_seq, head=head, wall=wall, mono=mono,
                          boot=boot, key=key.key_id, next_key=nk)
    return {"site": site, "head_seq": head_seq, "head": head, "key": key.key_id,
            "next_key": nk, "reason": reason, "sig": _b64u(key.sign(msg))}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A parsed checkpoint record (its line's values; nothing verified yet but the shape)."""

    seq: int
    run: str
    boot: str
    wall: str
    mono: float
    site: str
    head_seq: int
    head: str
    key: str
    next_key: str | None
    reason: str
    sig: bytes
    mac: str  # the checkpoint line's own chain digest

    def canonical_bytes(self) -> bytes:
        return canonical_bytes(site=self.site, head_seq=self.head_seq, head=self.head,
                               wall=self.wall, mono=self.mono, boot=self.boot, key=self.key,
                               next_key=self.next_key)

    def verify(self, public: PublicKey) -> bool:
        """Whether ``public`` is the key named by ``key`` and its signature verifies over the
        canonical bytes. (Whether that key speaks for the site at ``wall`` is the trust
        file's question: see signage/trust.py.)"""
        if public.key_id != self.key:
            return False
        try:
            msg = self.canonical_bytes()
        except CheckpointError:
            return False
        return public.verify(self.sig, msg)

    def next_public(self) -> PublicKey | None:
        """The new key a rotation checkpoint introduces (None when not a rotation)."""
        if self.next_key is None:
            return None
        try:
            return PublicKey.from_text(self.next_key)
        except SigningKeyError as exc:
            raise CheckpointError(f"next_key: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "wall": self.wall, "site": self.site,
                "head_seq": self.head_seq, "head": self.head, "key": self.key,
                "next_key": self.next_key, "mac": self.mac}


def _field(rec: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in rec:
        raise CheckpointError(_("{name}: missing").format(name=name))
    v = rec[name]
    if not isinstance(v, kind) or isinstance(v, bool):
        raise CheckpointError(_("{name}: wrong type "
                                "({type})").format(name=name, type=type(v).__name__))
    return v


def parse_checkpoint(line: bytes) -> Checkpoint:
    """A Checkpoint from one line (with or without its newline). Checks the shape only: the
    frame, version 2, type checkpoint, every field's type, head_seq = seq - 1, a 64-byte
    signature. Raises CheckpointError saying what is wrong."""
    line = line.rstrip(b"\n")
    if len(line) > MAX_CHECKPOINT_LINE:
        raise CheckpointError(_("longer than {limit} bytes: not a "
                                "checkpoint").format(limit=MAX_CHECKPOINT_LINE))
    parts = fmt.split(line)
    if parts is None:
        raise CheckpointError(_("not a log record (the frame around its digest is damaged)"))
    try:
        rec = fmt.decode(line)
    except ValueError as exc:
        raise CheckpointError(_("not valid JSON ({exc})").format(exc=exc)) from None
    if rec.get("v") != VERSION:
        raise CheckpointError(_("v: expected {want}, got {got}").format(
            want=VERSION, got=repr(rec.get("v"))))
    if rec.get("type") != "checkpoint":
        raise CheckpointError(_("type: expected 'checkpoint', got {got}").format(
            got=repr(rec.get("type"))))
    seq = _field(rec, "seq", int)
    head_seq = _field(rec, "head_seq", int)
    if head_seq != seq - 1 or head_seq < 0:
        raise CheckpointError(_("head_seq: must be seq - 1 = {want}, got "
                                "{head_seq}").format(want=seq - 1, head_seq=head_seq))
    head = _field(rec, "head", str)
    if len(head) != 64 or not fmt._HEX.issuperset(head.encode("ascii", "replace")):
        raise CheckpointError(_("head: expected 64 lowercase hex digits"))
    nk = rec.get("next_key")
    if nk is not None and not isinstance(nk, str):
        raise CheckpointError(_("next_key: expected a public key text or null"))
    sig = _unb64u(_field(rec, "sig", str))
    if sig is None:
        raise CheckpointError(_("sig: expected 86 base64url characters (64 bytes)"))
    mono = _field(rec, "mono", (int, float))
    if not -MAX_MONO_S <= mono <= MAX_MONO_S:  # (False for NaN and the infinities too)
        raise CheckpointError(_("mono: expected a finite number of seconds within "
                                "±{limit:.0f}").format(limit=MAX_MONO_S))
    key = _field(rec, "key", str)
    if len(key) != 16:
        raise CheckpointError(_("key: expected a key id (16 hex digits)"))
    return Checkpoint(seq=seq, run=_field(rec, "run", str), boot=_field(rec, "boot", str),
                      wall=_field(rec, "wall", str), mono=float(mono),
                      site=_field(rec, "site", str), head_seq=head_seq, head=head, key=key,
                      next_key=nk, reason=str(rec.get("reason", "")), sig=sig,
                      mac=parts[1].decode("ascii"))


def witness_lines(text: bytes, src: str) -> list[tuple[int, bytes]]:
    """The checkpoint lines of a witness file (docs/log-format.md, "Witnesses"): each line is
    a checkpoint line itself, or a JSON object whose ``line`` is one. Returns (line number,
    checkpoint line bytes); blank lines are skipped. Raises CheckpointError naming the line."""
    out: list[tuple[int, bytes]] = []
    for n, raw in enumerate(text.split(b"\n"), 1):
        raw = raw.strip()
        if not raw:
            continue
        if raw.startswith(b'{"v":'):
            out.append((n, raw))
            continue
        try:
            obj = fmt.loads(raw)
        except ValueError:
            raise CheckpointError(_("{src}:{n}: not JSON").format(src=src, n=n)) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("line"), str):
            raise CheckpointError(_("{src}:{n}: expected a checkpoint line, or an object with the "
                                    "checkpoint line as 'line'").format(src=src, n=n))
        out.append((n, obj["line"].encode("utf-8").strip()))
    return out


__all__ = [
    "REASONS",
    "TAG",
    "VERSION",
    "Checkpoint",
    "CheckpointError",
    "canonical_bytes",
    "chain_digest",
    "checkpoint_fields",
    "parse_checkpoint",
    "verify_link",
    "witness_lines",
]
