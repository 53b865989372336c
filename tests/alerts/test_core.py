"""The alert core: CAP parsing on hostile input, the signed envelope, the alert book."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import pytest

from signage.alerts.cap import MAX_CAP_BYTES, CapError, parse_cap, region_covers
from signage.alerts.envelope import EnvelopeError, canonical, open_envelope, seal
from signage.alerts.state import Accepted, AlertBook, Refused
from signage.keys import SigningKey

from .capgen import CN, cap, ref

T0 = datetime(2026, 12, 1, 20, 0, tzinfo=CN)


def test_parse_reads_the_fields() -> None:
    a = parse_cap(cap("A1", sent=T0, repeat_s=90, sites=("s1",)))
    assert (a.identifier, a.sender, a.sent, a.status, a.msg_type) == (
        "A1", "fzzx@hz.gov.cn", T0, "Actual", "Alert")
    assert a.headline == "警惕冒充客服退款诈骗"
    assert a.instruction.startswith("凡是自称客服")
    assert a.sender_name == "杭州市反诈中心"
    assert a.expires == T0 + timedelta(hours=2)
    assert a.effective == T0  # defaults to sent
    assert a.repeat_s == 90
    assert a.sites == ("s1",) and a.regions == ("330106",)
    assert not a.drill


@pytest.mark.parametrize(("doc", "needle"), [
    (cap(status="Draft"), "alert/status"),
    (cap(msg_type="Ack"), "alert/msgType"),
    (cap(msg_type="Update"), "alert/references: missing"),
    (cap(language="en-US"), "no <info> with <language>zh-CN"),
    (cap(headline="骗" * 161), "alert/info/headline: 161 characters"),
    (cap(repeat_s=5), "signage:repeat_s"),
    (cap(sites=(), regions=()), "no <geocode>"),
    (cap(regions=("33",)), "6-digit administrative division code"),
    (cap(identifier="a b"), "alert/identifier"),
    (cap(sent=T0, expires=T0 - timedelta(minutes=1)), "is not after"),
    (cap(sent=T0, expires=T0.replace(year=2126)), "more than 31 days after sent"),
    (b"<alert>", "not well-formed"),
    (b"<foo xmlns='urn:oasis:names:tc:emergency:cap:1.2'/>", "root element"),
    (cap().replace(b"<sent>", b"<sent>x"), "not a CAP time"),
])
def test_bad_cap_is_refused_with_the_field(doc: bytes, needle: str) -> None:
    with pytest.raises(CapError, match=None) as exc:
        parse_cap(doc)
    assert needle in str(exc.value)


BOMB = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "&lol;" * 10}">'
                   .encode() for i in range(1, 10))
        + b']><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;'
        b"</identifier></alert>")
XXE = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier>'
       b"</alert>")


@pytest.mark.parametrize("doc", [BOMB, XXE, cap(extra_head='<!DOCTYPE alert>')])
def test_dtds_and_entities_are_refused(doc: bytes) -> None:
    with pytest.raises(CapError, match="DTDs and entities are not allowed"):
        parse_cap(doc)


def test_a_10_mb_description_is_refused_before_parsing() -> None:
    doc = cap(description="诈" * (10 * 1024 * 1024 // 3))
    assert len(doc) > 10_000_000
    with pytest.raises(CapError, match=f"at most {MAX_CAP_BYTES} bytes"):
        parse_cap(doc)


def test_region_codes() -> None:
    assert region_covers("330000", "330106")  # province
    assert region_covers("330100", "330106")  # city
    assert region_covers("330106", "330106")
    assert not region_covers("330106", "330105")
    assert not region_covers("320000", "330106")
    assert not region_covers("330100", "330206")


# ---- envelope ---------------------------------------------------------------------------

def test_envelope_round_trip_and_canonical_bytes() -> None:
    k = SigningKey.generate()
    env = seal("cap-alert", b"<alert/>", k)
    doc = json.loads(env)
    assert doc["format"] == "signage-envelope" and doc["version"] == 1
    opened = open_envelope(env, {k.key_id: k.public})
    assert opened.payload == b"<alert/>" and opened.kind == "cap-alert"
    # an independent check of the documented canonical bytes, straight with cryptography
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    sig = base64.urlsafe_b64decode(doc["signature"] + "==")
    msg = (b"signage-envelope/1\ncap-alert\n" + k.key_id.encode() + b"\n"
           + hashlib.sha256(b"<alert/>").hexdigest().encode() + b"\n")
    assert msg == canonical("cap-alert", k.key_id, hashlib.sha256(b"<alert/>").hexdigest())
    Ed25519PublicKey.from_public_bytes(k.public.raw).verify(sig, msg)


def test_envelope_refusals() -> None:
    k, other = SigningKey.generate(), SigningKey.generate()
    keys = {k.key_id: k.public}
    env = json.loads(seal("cap-alert", b"<alert/>", k))
    # altered payload
    bad = dict(env, payload=base64.b64encode(b"<alert>x</alert>").decode())
    with pytest.raises(EnvelopeError) as e:
        open_envelope(json.dumps(bad).encode(), keys)
    assert e.value.reason == "forged"
    # signed by a key that is not the authority's, claiming the authority's key id
    forged = json.loads(seal("cap-alert", b"<alert/>", other))
    forged["key_id"] = k.key_id
    with pytest.raises(EnvelopeError) as e:
        open_envelope(json.dumps(forged).encode(), keys)
    assert e.value.reason == "forged"
    with pytest.raises(EnvelopeError) as e:
        open_envelope(seal("cap-alert", b"x", other), keys)
    assert e.value.reason == "unknown_key"
    with pytest.raises(EnvelopeError) as e:
        open_envelope(cap(), keys)  # a bare CAP file: unsigned
    assert e.value.reason == "unsigned" and "not a signed" in str(e.value)
    # a signature made for another kind does not pass as this kind
    pl = json.loads(seal("playlist-bundle", b"<alert/>", k))
    pl["kind"] = "cap-alert"
    with pytest.raises(EnvelopeError) as e:
        open_envelope(json.dumps(pl).encode(), keys)
    assert e.value.reason == "forged"
    big = seal("playlist-bundle", b"x" * 200_000, k)
    with pytest.raises(EnvelopeError) as e:
        open_envelope(big, keys, kinds=("cap-alert",))
    assert e.value.reason == "too_large"  # read no further than an alert's limit
    small = seal("playlist-bundle", b"x", k)
    with pytest.raises(EnvelopeError) as e:
        open_envelope(small, keys, kinds=("cap-alert",))
    assert e.value.reason == "malformed" and "kind" in str(e.value)
    with pytest.raises(EnvelopeError) as e:
        open_envelope(b"{" * 100_000, keys)
    assert e.value.reason == "malformed"


# ---- the book ---------------------------------------------------------------------------

def book(drills: bool = False) -> AlertBook:
    return AlertBook("s1", ("330106",), drills)


def test_alert_update_cancel() -> None:
    b = book()
    a = parse_cap(cap("A1", sent=T0))
    assert isinstance(b.receive(a, T0), Accepted)
    assert [x.identifier for x in b.active(T0)] == ["A1"]
    u = parse_cap(cap("A2", sent=T0 + timedelta(minutes=5), msg_type="Update",
                      references=ref("A1", T0), headline="更新"))
    got = b.receive(u, T0 + timedelta(minutes=5))
    assert isinstance(got, Accepted) and got.ended == (("fzzx@hz.gov.cn", "A1"),)
    assert [x.headline for x in b.active(T0 + timedelta(minutes=5))] == ["更新"]
    c = parse_cap(cap("A3", sent=T0 + timedelta(minutes=9), msg_type="Cancel",
                      references=ref("A2", T0 + timedelta(minutes=5))))
    got = b.receive(c, T0 + timedelta(minutes=9))
    assert isinstance(got, Accepted) and got.ended == (("fzzx@hz.gov.cn", "A2"),)
    assert b.active(T0 + timedelta(minutes=9)) == []
    # the old one again (a late copy): refused as superseded; the cancel again: duplicate
    again = b.receive(parse_cap(cap("A1", sent=T0)), T0 + timedelta(minutes=10))
    assert isinstance(again, Refused) and again.reason == "duplicate"
    dup = b.receive(c, T0 + timedelta(minutes=10))
    assert isinstance(dup, Refused) and dup.reason == "duplicate"


def test_cancel_before_its_alert_arrives() -> None:
    b = book()
    c = parse_cap(cap("C1", sent=T0 + timedelta(minutes=1), msg_type="Cancel",
                      references=ref("A1", T0)))
    assert isinstance(b.receive(c, T0 + timedelta(minutes=2)), Accepted)
    late = b.receive(parse_cap(cap("A1", sent=T0)), T0 + timedelta(minutes=3))
    assert isinstance(late, Refused) and late.reason == "cancelled"


@pytest.mark.parametrize(("kw", "reason"), [
    ({"regions": ("320000",)}, "other_region"),
    ({"regions": (), "sites": ("s2",)}, "other_region"),
    ({"status": "Exercise"}, "drill_not_configured"),
    ({"expires": T0 - timedelta(seconds=1), "sent": T0 - timedelta(hours=1)}, "expired"),
])
def test_refusals(kw: dict[str, object], reason: str) -> None:
    got = book().receive(parse_cap(cap("X", **kw)), T0)  # type: ignore[arg-type]
    assert isinstance(got, Refused) and got.reason == reason, got


def test_drills_on_a_drill_box_and_site_address() -> None:
    b = book(drills=True)
    got = b.receive(parse_cap(cap("D", sent=T0, status="Exercise", regions=(),
                                  sites=("s1",))), T0)
    assert isinstance(got, Accepted) and got.alert.drill


def test_effective_and_expiry_by_time() -> None:
    b = book()
    a = parse_cap(cap("A", sent=T0, effective=T0 + timedelta(minutes=10),
                      expires=T0 + timedelta(minutes=20)))
    assert isinstance(b.receive(a, T0), Accepted)
    assert b.active(T0) == []
    assert b.next_change(T0) == T0 + timedelta(minutes=10)
    assert len(b.active(T0 + timedelta(minutes=10))) == 1
    assert b.active(T0 + timedelta(minutes=20)) == []
    assert [e.reason for e in b.expire(T0 + timedelta(minutes=20))] == ["expired"]


def test_the_example_in_docs_alerts_md_is_accepted() -> None:
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text("utf-8")
    xml = text.split("```xml\n", 1)[1].split("```", 1)[0].encode("utf-8")
    a = parse_cap(xml)
    assert a.headline == "警惕冒充电商客服退款诈骗" and a.repeat_s == 120
    b = AlertBook("any", ("330106",), False)
    assert isinstance(b.receive(a, a.sent), Accepted)


def test_a_cancel_holds_after_its_own_expires() -> None:
    """A restart reads the kept messages again in order: the alert, then its Cancel, whose
    own expires (short, as senders write them) has passed. The alert stays cancelled (it
    came back on every screen: the Cancel was refused as expired)."""
    a = parse_cap(cap("A1", sent=T0, expires=T0 + timedelta(days=3)))
    c = parse_cap(cap("C1", sent=T0 + timedelta(minutes=5), msg_type="Cancel",
                      references=ref("A1", T0), expires=T0 + timedelta(minutes=30)))
    later = T0 + timedelta(hours=2)
    b = book()
    assert isinstance(b.receive(a, later, "k1"), Accepted)
    got = b.receive(c, later, "k1")
    assert isinstance(got, Accepted) and got.ended == (("fzzx@hz.gov.cn", "A1"),)
    assert b.active(later) == [] and b.live() == []
    # an expired Update ends what it references and is not shown itself
    b = book()
    assert isinstance(b.receive(a, later, "k1"), Accepted)
    u = parse_cap(cap("U1", sent=T0 + timedelta(minutes=5), msg_type="Update",
                      references=ref("A1", T0), expires=T0 + timedelta(minutes=30)))
    got = b.receive(u, later, "k1")
    assert isinstance(got, Accepted) and got.ended == (("fzzx@hz.gov.cn", "A1"),)
    assert b.live() == []


def test_only_the_same_sender_and_key_end_an_alert() -> None:
    a = parse_cap(cap("A1", sent=T0, sender="fzzx@hz.gov.cn"))
    # another sender's Cancel naming A1: ignored
    other = parse_cap(cap("C1", sent=T0 + timedelta(minutes=1), msg_type="Cancel",
                          sender="prank@x.cn", references=ref("A1", T0)))
    # A1's sender name, but signed with another authority key: ignored too
    forged = parse_cap(cap("C2", sent=T0 + timedelta(minutes=2), msg_type="Cancel",
                           references=ref("A1", T0)))
    b = book()
    assert isinstance(b.receive(a, T0, "k1"), Accepted)
    got = b.receive(other, T0 + timedelta(minutes=1), "k2")
    assert isinstance(got, Accepted) and got.ended == ()
    got = b.receive(forged, T0 + timedelta(minutes=2), "k2")
    assert isinstance(got, Accepted) and got.ended == ()
    assert [x.identifier for x in b.active(T0 + timedelta(minutes=3))] == ["A1"]
    # the same pre-emptively (the Cancel before its alert): the real alert is not refused
    b = book()
    assert isinstance(b.receive(forged, T0 + timedelta(minutes=2), "k2"), Accepted)
    assert isinstance(b.receive(a, T0 + timedelta(minutes=3), "k1"), Accepted)
    # and the real sender's Cancel still works
    real = parse_cap(cap("C3", sent=T0 + timedelta(minutes=4), msg_type="Cancel",
                         references=ref("A1", T0)))
    got = b.receive(real, T0 + timedelta(minutes=4), "k1")
    assert isinstance(got, Accepted) and got.ended == (("fzzx@hz.gov.cn", "A1"),)


def test_one_signature_has_one_spelling() -> None:
    """base64url decoding skips foreign characters and the last character's spare bits:
    those spellings of a valid signature (other envelope bytes, same signature) are refused,
    so a copy cannot pass a dedupe by the envelope's bytes."""
    k = SigningKey.generate()
    keys = {k.key_id: k.public}
    env = json.loads(seal("cap-alert", b"<alert/>", k))
    sig = env["signature"]
    assert open_envelope(json.dumps(env).encode(), keys).payload == b"<alert/>"
    spare = {"A": "B", "Q": "R", "g": "h", "w": "x"}[sig[-1]]  # same data bits, spare bit set
    for other in (sig[:40] + "$" + sig[40:], sig + "=", sig[:-1] + spare, " " + sig):
        assert base64.urlsafe_b64decode(other + "==") == base64.urlsafe_b64decode(sig + "==")
        bad = dict(env, signature=other)
        with pytest.raises(EnvelopeError) as e:
            open_envelope(json.dumps(bad).encode(), keys)
        assert e.value.reason == "malformed"
