"""The inspection statement: what a screen's code says, signed by the box (pure; no I/O).

The byte format is a public contract, specified in docs/inspection-code.md (version 1): an
inspector's phone, the fleet hub and any third-party checker implement it from that text.
This module is the reference: ``encode``/``decode`` of the payload, the canonical signed bytes,
the URL form ``<hub base URL>/v/<base64url payload>`` and ``verify`` against a trust file.

Every decoder here treats its input as hostile (it comes from a photo or a URL): sizes are
bounded before anything is parsed, every field is checked, and every failure is a
StatementError whose message names the field and what is allowed.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from ..i18n import N_, _
from ..keys import SIGNATURE_LEN, PublicKey, SigningKey
from ..trust import Trust

VERSION = 1
#: the first bytes of the signed message: names the format and its version, so that a
#: signature made by the box's key for another purpose (a log checkpoint) never reads as this
TAG = b"signage-inspection-v1\n"
HEAD_LEN = 16
KEY_ID_LEN = 8
#: flags: bit 0 = inside opening hours; bit 1 = the day's figures are partial (the daemon
#: started after today's opening); every other bit must be zero in version 1
FLAG_OPEN = 0x01
FLAG_PARTIAL = 0x02
_FLAGS = FLAG_OPEN | FLAG_PARTIAL
_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
ID_RULE = N_("1-64 ASCII characters: letters, digits, '-', '_', '.', starting with a letter "
             "or digit")
#: a payload is at most 2 + 4 + 2 * 65 + 3 * 10 + 16 + 8 + 64 bytes; anything longer is not one
MAX_PAYLOAD = 256
MAX_TEXT = 1024  # longest URL or payload text looked at
_B64U = re.compile(r"[A-Za-z0-9_-]+")
U32 = 2**32 - 1
U63 = 2**63 - 1


class StatementError(ValueError):
    """Not a valid inspection code; the message names the field and the rule."""


@dataclass(frozen=True, slots=True)
class Statement:
    """What the box states at ``time`` about one screen (all fields are signed)."""

    site: str
    screen: str
    time: int  # Unix seconds (UTC) when the statement was made
    open_now: bool  # inside the site's opening hours at ``time``
    af_today: int  # anti-fraud showings started on this screen today (local day) before time
    worst_gap_ms: int  # longest interval without anti-fraud content today, in open time
    seq: int  # the log chain's seq at ``time`` (the last record written)
    head: bytes  # the first 16 bytes of that record's chain digest (``mac``)
    key_id: str  # 16 hex digits: the signing key's id (docs/keys.md)
    partial: bool = False  # af_today/worst_gap_ms count only since the daemon started today

    def __post_init__(self) -> None:
        for name in ("site", "screen"):
            v = getattr(self, name)
            if not isinstance(v, str) or not _ID.fullmatch(v.encode("ascii", "replace")):
                raise StatementError(_("{field}: {value} is not allowed; {rule}")
                                     .format(field=name, value=repr(v), rule=_(ID_RULE)))
        if not 0 <= self.time <= U32:
            raise StatementError(_("time: {value} is outside 0 .. 2**32-1 Unix seconds")
                                 .format(value=self.time))
        for name, hi in (("af_today", U32), ("worst_gap_ms", U32), ("seq", U63)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= hi:
                raise StatementError(_("{field}: {value} is not an integer in 0 .. {high}")
                                     .format(field=name, value=repr(v), high=hi))
        if not isinstance(self.head, bytes) or len(self.head) != HEAD_LEN:
            raise StatementError(_("head: expected {n} bytes").format(n=HEAD_LEN))
        if not re.fullmatch(r"[0-9a-f]{16}", self.key_id):
            raise StatementError(_("key_id: {value} is not 16 lowercase hex digits")
                                 .format(value=repr(self.key_id)))

    def body(self) -> bytes:
        """The payload without its signature (docs/inspection-code.md, "Layout")."""
        site, screen = self.site.encode("ascii"), self.screen.encode("ascii")
        return b"".join((
            bytes((VERSION, (FLAG_OPEN if self.open_now else 0)
                   | (FLAG_PARTIAL if self.partial else 0))),
            struct.pack(">I", self.time),
            bytes((len(site),)), site, bytes((len(screen),)), screen,
            uvarint(self.af_today), uvarint(self.worst_gap_ms), uvarint(self.seq),
            self.head, bytes.fromhex(self.key_id),
        ))

    def signed_bytes(self) -> bytes:
        """The canonical bytes the Ed25519 signature covers: TAG followed by the body."""
        return TAG + self.body()

    @property
    def when(self) -> datetime:
        return datetime.fromtimestamp(self.time, UTC)


@dataclass(frozen=True, slots=True)
class SignedStatement:
    statement: Statement
    signature: bytes

    @property
    def payload(self) -> bytes:
        return self.statement.body() + self.signature

    def text(self) -> str:
        """The payload as base64url without padding."""
        return base64.urlsafe_b64encode(self.payload).rstrip(b"=").decode("ascii")

    def url(self, base: str) -> str:
        """``<base>/v/<payload>``; ``base`` is the hub's base URL (no trailing slash needed)."""
        return base.rstrip("/") + "/v/" + self.text()

    def signature_valid(self, key: PublicKey) -> bool:
        return key.key_id == self.statement.key_id and key.verify(
            self.signature, self.statement.signed_bytes())


def sign(statement: Statement, key: SigningKey) -> SignedStatement:
    if key.key_id != statement.key_id:
        raise StatementError(_("key_id: the statement names another key than the one "
                                 "signing"))
    return SignedStatement(statement, key.sign(statement.signed_bytes()))


# ---- varints ----------------------------------------------------------------------------------
def uvarint(n: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, least significant group first, high bit = more."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_uvarint(data: bytes, pos: int, field: str) -> tuple[int, int]:
    n = shift = 0
    start = pos
    while True:
        if pos >= len(data):
            raise StatementError(_("{field}: the payload ends inside this number")
                                 .format(field=field))
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
        if shift >= 70:
            raise StatementError(_("{field}: number longer than 10 bytes").format(field=field))
    if pos - start > 1 and data[pos - 1] == 0:
        raise StatementError(_("{field}: not the shortest encoding of the number")
                             .format(field=field))
    return n, pos


# ---- decoding -----------------------------------------------------------------------------
def decode(payload: bytes) -> SignedStatement:
    """Parse a payload (body + signature). Checks the form only, not the signature."""
    if len(payload) > MAX_PAYLOAD:
        raise StatementError(_("payload: {n} bytes; an inspection code has at most {limit}")
                             .format(n=len(payload), limit=MAX_PAYLOAD))
    if len(payload) < 2:
        raise StatementError(_("payload: too short to be an inspection code"))
    if payload[0] != VERSION:
        raise StatementError(_("version: {version}; this program reads version {ours} (a newer "
                               "code needs a newer signage)")
                             .format(version=payload[0], ours=VERSION))
    flags = payload[1]
    if flags & ~_FLAGS:
        raise StatementError(_("flags: {flags} has bits that version 1 does not define")
                             .format(flags=f"{flags:#04x}"))
    pos = 2
    if len(payload) < pos + 4:
        raise StatementError(_("time: the payload ends inside it"))
    (t,) = struct.unpack_from(">I", payload, pos)
    pos += 4
    ids: list[str] = []
    for field in ("site", "screen"):
        if pos >= len(payload):
            raise StatementError(_("{field}: the payload ends before it").format(field=field))
        n = payload[pos]
        raw = payload[pos + 1:pos + 1 + n]
        if len(raw) != n or not _ID.fullmatch(raw):
            raise StatementError(_("{field}: not an id ({rule})")
                                 .format(field=field, rule=_(ID_RULE)))
        ids.append(raw.decode("ascii"))
        pos += 1 + n
    af, pos = _read_uvarint(payload, pos, "af_today")
    gap, pos = _read_uvarint(payload, pos, "worst_gap_ms")
    seq, pos = _read_uvarint(payload, pos, "seq")
    rest = payload[pos:]
    want = HEAD_LEN + KEY_ID_LEN + SIGNATURE_LEN
    if len(rest) != want:
        raise StatementError(_("payload: {n} bytes after seq, expected {want} (head, key id, "
                               "signature)").format(n=len(rest), want=want))
    head = rest[:HEAD_LEN]
    key_id = rest[HEAD_LEN:HEAD_LEN + KEY_ID_LEN].hex()
    sig = rest[HEAD_LEN + KEY_ID_LEN:]
    st = Statement(ids[0], ids[1], t, bool(flags & FLAG_OPEN), af, gap, seq, head, key_id,
                   bool(flags & FLAG_PARTIAL))
    return SignedStatement(st, sig)


def payload_of_text(text: str) -> bytes:
    """The payload bytes of a code's text: the URL ``…/v/<payload>`` or the payload alone."""
    if len(text) > MAX_TEXT:
        raise StatementError(_("code text: {n} characters; at most {limit}")
                             .format(n=len(text), limit=MAX_TEXT))
    t = text.strip()
    if "/v/" in t:
        t = t.rsplit("/v/", 1)[1]
    t = t.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    if not t or not _B64U.fullmatch(t) or len(t) % 4 == 1:
        raise StatementError(_("code text: not a signage inspection code (expected "
                               "<hub>/v/<base64url> or the base64url payload)"))
    try:
        raw = base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))
    except (binascii.Error, ValueError):
        raise StatementError(_("code text: bad base64url")) from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != t:
        raise StatementError(_("code text: not the canonical base64url of its bytes"))
    return raw


def parse(text: str) -> SignedStatement:
    return decode(payload_of_text(text))


# ---- verification against a trust file ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    #: a stable code for what failed ("" when ok): unknown_site, unknown_key, key_not_valid,
    #: bad_signature, stale, future
    code: str
    #: English message template (for signage.i18n._) and its fields
    message: str
    fields: tuple[tuple[str, str], ...] = ()
    age_s: int | None = None


#: a code older than this at the photo's time is refused (the screen renews it every showing)
MAX_AGE_S = 300
#: a code this much "younger" than the photo is refused too: a box or phone clock is wrong
MAX_FUTURE_S = 300


def verify(signed: SignedStatement, trust: Trust, at: int | None) -> Verdict:
    """Signature first (by a key the trust file registers for that site, valid at the
    statement's time), then freshness against ``at`` (Unix seconds; None = not checked)."""
    st = signed.statement
    site = trust.site(st.site)
    if site is None:
        return Verdict(False, "unknown_site",
                       N_("site {site} is not in the trust file: this code cannot be checked"),
                       (("site", st.site),))
    tk = site.key(st.key_id)
    if tk is None:
        return Verdict(False, "unknown_key",
                       N_("key {key} is not registered for site {site}: refused"),
                       (("key", st.key_id), ("site", st.site)))
    if not signed.signature_valid(tk.public):
        return Verdict(False, "bad_signature",
                       N_("the signature does not verify: forged or damaged code, refused"), ())
    if not tk.valid_at(st.when):
        return Verdict(False, "key_not_valid",
                       N_("key {key} was not valid for site {site} at {time}: refused"),
                       (("key", st.key_id), ("site", st.site), ("time", st.when.isoformat())))
    if at is None:
        return Verdict(True, "", N_("signature valid (freshness not checked)"), ())
    age = at - st.time
    if age > MAX_AGE_S:
        return Verdict(False, "stale",
                       N_("the code is {age} s older than the photo (at most {max} s): "
                       "an old photo or a screen replaying a code, refused"),
                       (("age", str(age)), ("max", str(MAX_AGE_S))), age)
    if -age > MAX_FUTURE_S:
        return Verdict(False, "future",
                       N_("the code is {ahead} s later than the photo: the box's or the "
                       "phone's clock is wrong, refused"),
                       (("ahead", str(-age)),), age)
    return Verdict(True, "", N_("signature valid, code {age} s old at the photo's time"),
                   (("age", str(age)),), age)


__all__ = [
    "FLAG_OPEN",
    "FLAG_PARTIAL",
    "HEAD_LEN",
    "MAX_AGE_S",
    "MAX_PAYLOAD",
    "TAG",
    "VERSION",
    "SignedStatement",
    "Statement",
    "StatementError",
    "Verdict",
    "decode",
    "parse",
    "payload_of_text",
    "sign",
    "uvarint",
    "verify",
]
