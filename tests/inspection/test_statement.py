"""The statement's byte format against docs/inspection-code.md, with an independent verifier
(hand-written parser, the cryptography package's Ed25519 directly) and hypothesis round trips."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from signage.inspection.statement import (
    SignedStatement,
    Statement,
    StatementError,
    decode,
    parse,
    sign,
)
from signage.keys import SigningKey

SEED = bytes(range(32))
KEY = SigningKey(Ed25519PrivateKey.from_private_bytes(SEED))
DOC_URL = (
    "https://hub.example.cn/v/AQFrDiogCWRlbW8tbWFsbA1jaGVja291dC1oZG1pnAPUvwO6jgE_KpwNXnG4pG0f"
    "Dpwrel1DVkdap1RjR0wxjC-NQKCMKvYEQ9lAtg6jAiKUU8RKQDnZUpPtk9icTA7MzveFm791w7SbvFKMTV0E5ZCxCv"
    "MSjA8KlIdlRWwA")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return n, pos


def independent_verify(text: str, public_raw: bytes) -> dict[str, object]:
    """Implemented from docs/inspection-code.md only."""
    b64 = text.rsplit("/v/", 1)[1]
    payload = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
    assert payload[0] == 1
    flags = payload[1]
    (t,) = struct.unpack(">I", payload[2:6])
    pos = 6
    ids = []
    for _ in range(2):
        n = payload[pos]
        ids.append(payload[pos + 1:pos + 1 + n].decode("ascii"))
        pos += 1 + n
    af, pos = _varint(payload, pos)
    gap, pos = _varint(payload, pos)
    seq, pos = _varint(payload, pos)
    head, key_id, sig = payload[pos:pos + 16], payload[pos + 16:pos + 24], payload[pos + 24:]
    assert len(sig) == 64
    assert key_id == hashlib.sha256(public_raw).digest()[:8]
    Ed25519PublicKey.from_public_bytes(public_raw).verify(
        sig, b"signage-inspection-v1\n" + payload[:-64])  # raises InvalidSignature
    return {"open": bool(flags & 1), "partial": bool(flags & 2), "time": t, "site": ids[0],
            "screen": ids[1], "af": af, "gap": gap, "seq": seq, "head": head}


def test_the_documented_example() -> None:
    assert KEY.public.text == "ed25519:A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
    assert KEY.key_id == "56475aa75463474c"
    stmt = Statement("demo-mall", "checkout-hdmi", 1796090400, True, 412, 57300, 18234,
                     bytes.fromhex("3f2a9c0d5e71b8a46d1f0e9c2b7a5d43"), KEY.key_id)
    signed = sign(stmt, KEY)
    assert signed.url("https://hub.example.cn/") == DOC_URL
    assert len(stmt.signed_bytes()) == 84 and len(signed.payload) == 126
    got = independent_verify(DOC_URL, KEY.public.raw)
    assert got == {"open": True, "partial": False, "time": 1796090400, "site": "demo-mall",
                   "screen": "checkout-hdmi", "af": 412, "gap": 57300, "seq": 18234,
                   "head": bytes.fromhex("3f2a9c0d5e71b8a46d1f0e9c2b7a5d43")}
    assert parse(DOC_URL) == signed


ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True)
statements = st.builds(
    Statement, ids, ids, st.integers(0, 2**32 - 1), st.booleans(), st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1), st.integers(0, 2**63 - 1), st.binary(min_size=16, max_size=16),
    st.just(KEY.key_id), st.booleans())


@settings(max_examples=300, deadline=None)
@given(statements)
def test_round_trip_and_independent_check(stmt: Statement) -> None:
    signed = sign(stmt, KEY)
    assert len(signed.payload) <= 256
    assert decode(signed.payload) == signed
    url = signed.url("https://hub.example.cn")
    assert parse(url) == signed and parse(signed.text()) == signed
    got = independent_verify(url, KEY.public.raw)
    assert (got["site"], got["screen"], got["time"], got["af"], got["gap"], got["seq"],
            got["head"], got["open"], got["partial"]) == (
        stmt.site, stmt.screen, stmt.time, stmt.af_today, stmt.worst_gap_ms, stmt.seq,
        stmt.head, stmt.open_now, stmt.partial)


@settings(max_examples=300, deadline=None)
@given(statements, st.data())
def test_any_flipped_byte_is_refused_or_unsigned(stmt: Statement, data: st.DataObject) -> None:
    signed = sign(stmt, KEY)
    raw = bytearray(signed.payload)
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    try:
        other = decode(bytes(raw))
    except StatementError:
        return
    assert not other.signature_valid(KEY.public)


@pytest.mark.parametrize("text, field", [
    ("https://hub/v/" + "A" * 2000, "code text"),
    ("https://hub/v/abc$def", "code text"),
    ("https://hub/v/AgE", "version"),
    ("https://hub/v/AQQ", "flags"),
    ("https://hub/v/AQE", "time"),
    ("https://hub/v/AQEAAAAAAA", "site"),
])
def test_bad_codes_name_their_field(text: str, field: str) -> None:
    with pytest.raises(StatementError, match=field):
        parse(text)


def test_non_minimal_varint_and_trailing_bytes_are_refused() -> None:
    stmt = Statement("s", "x", 1, False, 0, 0, 0, bytes(16), KEY.key_id)
    body = stmt.body()
    # af_today 0 written as 0x80 0x00
    pos = 2 + 4 + 2 + 2
    bad = body[:pos] + b"\x80\x00" + body[pos + 1:]
    with pytest.raises(StatementError, match="af_today"):
        decode(bad + bytes(64))
    with pytest.raises(StatementError, match="after seq"):
        decode(body + bytes(65))
    assert isinstance(decode(body + bytes(64)), SignedStatement)


def test_witness_lines_holding_codes() -> None:
    import json

    from signage.inspection.witness import NotACode, code_witness

    stmt = Statement("demo-mall", "s1", 1796090400, True, 3, 1000, 41, bytes(range(16)),
                     KEY.key_id)
    signed = sign(stmt, KEY)
    scan = json.dumps({"type": "inspection_scan", "v": 1, "payload": signed.text()}).encode()
    for line in (signed.url("https://hub.example.cn").encode(), signed.text().encode(), scan):
        w = code_witness(line)
        assert w is not None
        assert (w.seq, w.site, w.key, w.mac) == (41, "demo-mall", KEY.key_id,
                                                 bytes(range(16)).hex())
        assert w.wall.startswith("2026-12-01T02:00:00") and w.verify(KEY.public)
    assert code_witness(b'{"v":2,"seq":5,"type":"checkpoint"}') is None  # a checkpoint line
    assert code_witness(b'{"line":"{}"}') is None
    with pytest.raises(NotACode):
        code_witness(b'{"type":"inspection_scan","payload":7}')
    with pytest.raises(NotACode):
        code_witness(b"https://hub.example.cn/v/AgE")
