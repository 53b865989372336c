"""The signed envelope: how content pushed from above (a CAP alert, a playlist bundle) travels
to a box, over the fleet link or on a USB stick. Format version 1, documented in
docs/alerts.md ("The signed envelope"); a public contract.

An envelope is one UTF-8 JSON object::

    {"format": "signage-envelope", "version": 1, "kind": "cap-alert",
     "key_id": "<16 hex digits: the authority key's id>",
     "payload": "<base64 (RFC 4648, with padding) of the payload bytes>",
     "signature": "<base64url without padding of the 64-byte Ed25519 signature>"}

The signature is over the canonical bytes (ASCII, each line ending in LF)::

    signage-envelope/1
    <kind>
    <key_id>
    <sha256 of the payload bytes, 64 lowercase hex digits>

The first line tags the format and version, so a signature made for anything else (a log
checkpoint, an inspection code) can never pass as an envelope's. The box checks, in order and
before it reads the payload: the size, the JSON shape, a known authority key id, the
signature. Only then is the payload parsed (CAP XML with defusedxml, see cap.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass

from ..i18n import _
from ..keys import PublicKey, SigningKey

FORMAT = "signage-envelope"
VERSION = 1
TAG = b"signage-envelope/1\n"
KINDS = {"cap-alert": 128 * 1024, "playlist-bundle": 64 * 1024 * 1024,
         "playlist-withdrawal": 4 * 1024}
#: the largest envelope of any kind; a file larger than this is not read at all
MAX_ENVELOPE_BYTES = max(KINDS.values())
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
#: the one spelling of a 64-byte signature in base64url without padding (86 characters; the
#: last one carries 2 bits and 4 zero bits): the decoder skips foreign characters and
#: ignores the last one's spare bits, so without this check one signature had many
#: spellings (envelope bytes that differ, the same signature: a copy passed dedupe by bytes)
_SIG = re.compile(r"^[A-Za-z0-9_-]{85}[AQgw]$")
_FIELDS = {"format", "version", "kind", "key_id", "payload", "signature"}


class EnvelopeError(ValueError):
    """An envelope this box refuses; ``reason`` is a short machine word for the log
    (too_large, unsigned, malformed, unknown_key, forged), the message says it for people."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Opened:
    kind: str
    key_id: str
    payload: bytes
    digest: str  # sha256 hex of the payload: the envelope's identity


def canonical(kind: str, key_id: str, payload_sha256: str) -> bytes:
    return TAG + f"{kind}\n{key_id}\n{payload_sha256}\n".encode("ascii")


def seal(kind: str, payload: bytes, key: SigningKey) -> bytes:
    """Sign ``payload`` with the authority's key; the envelope's bytes."""
    if kind not in KINDS:
        raise ValueError(f"unknown envelope kind {kind!r}")
    digest = hashlib.sha256(payload).hexdigest()
    sig = key.sign(canonical(kind, key.key_id, digest))
    doc = {"format": FORMAT, "version": VERSION, "kind": kind, "key_id": key.key_id,
           "payload": base64.b64encode(payload).decode("ascii"),
           "signature": base64.urlsafe_b64encode(sig).rstrip(b"=").decode("ascii")}
    out = json.dumps(doc, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    if len(out) > KINDS[kind]:
        raise ValueError(_("the {kind} envelope would be {n} bytes; at most {limit} are "
                           "accepted by boxes").format(kind=kind, n=len(out), limit=KINDS[kind]))
    return out


def open_envelope(data: bytes, keys: dict[str, PublicKey],
                  kinds: tuple[str, ...] = tuple(KINDS)) -> Opened:
    """Verify an envelope against the authority keys (by key id); raise EnvelopeError."""
    limit = max(KINDS.get(k, 0) for k in kinds)
    if len(data) > limit:
        raise EnvelopeError("too_large", _("envelope: {n} bytes; at most {limit} are read for "
                                         "{kinds}").format(n=len(data), limit=limit,
                                                           kinds=", ".join(kinds)))
    if data.lstrip()[:1] == b"<":
        raise EnvelopeError("unsigned", _("envelope: this is a bare XML file, not a signed "
                                        "envelope: alerts are accepted only signed by the "
                                        "authority (signage hub alert, or the authority's "
                                        "signing tool)"))
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EnvelopeError("malformed", _("envelope: not a JSON object: {error}")
                            .format(error=exc)) from None
    if not isinstance(doc, dict):
        raise EnvelopeError("malformed", _("envelope: not a JSON object"))
    if doc.get("format") != FORMAT:
        raise EnvelopeError("malformed", _("envelope: format is not {format} (an unsigned "
                                         "alert or some other file?)")
                            .format(format=repr(FORMAT)))
    if doc.get("version") != VERSION:
        raise EnvelopeError("malformed", _("envelope: version {version} is not supported; this "
                                         "box reads version {ours}")
                            .format(version=repr(doc.get("version")), ours=VERSION))
    if set(doc) != _FIELDS:
        raise EnvelopeError("malformed", _("envelope: fields must be exactly {fields}")
                            .format(fields=", ".join(sorted(_FIELDS))))
    kind, key_id, payload_b64, sig_text = (doc["kind"], doc["key_id"], doc["payload"],
                                           doc["signature"])
    if not isinstance(kind, str) or kind not in kinds:
        raise EnvelopeError("malformed", _("envelope: kind {kind}; allowed here: {allowed}")
                            .format(kind=repr(str(kind)[:40]), allowed=", ".join(kinds)))
    if len(data) > KINDS[kind]:
        raise EnvelopeError("too_large", _("envelope: {n} bytes; a {kind} envelope is at most "
                                         "{limit} bytes")
                            .format(n=len(data), kind=kind, limit=KINDS[kind]))
    if not isinstance(key_id, str) or not _KEY_ID.match(key_id):
        raise EnvelopeError("malformed", _("envelope: key_id must be 16 lowercase hex digits"))
    if not isinstance(payload_b64, str) or not isinstance(sig_text, str):
        raise EnvelopeError("malformed", _("envelope: payload and signature must be strings"))
    key = keys.get(key_id)
    if key is None:
        raise EnvelopeError("unknown_key", _("envelope: signed by key {key_id}, which is not one "
                                           "of this box's authority keys")
                            .format(key_id=key_id))
    if not _SIG.match(sig_text):
        raise EnvelopeError("malformed", _("envelope: signature must be the 86 base64url "
                                         "characters of a 64-byte Ed25519 signature, "
                                         "without padding"))
    try:
        payload = base64.b64decode(payload_b64.encode("ascii"), validate=True)
        sig = base64.urlsafe_b64decode(sig_text.encode("ascii") + b"==")
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise EnvelopeError("malformed", _("envelope: payload or signature is not valid "
                                         "base64")) from None
    digest = hashlib.sha256(payload).hexdigest()
    if not key.verify(sig, canonical(kind, key_id, digest)):
        raise EnvelopeError("forged", _("envelope: the signature does not verify with "
                                      "authority key {key_id}: forged or altered")
                            .format(key_id=key_id))
    return Opened(kind, key_id, payload, digest)
