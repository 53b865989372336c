"""Log format version 2: the writer's SHA-256 chain and signed checkpoints, the verification
API (signage/playlog/v2.py), and the canonical signed bytes checked by an independent verifier
built here from the text of docs/log-format.md (cryptography's Ed25519PublicKey on bytes this
test makes itself)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signage.keys import SigningKey
from signage.playlog import format as fmt
from signage.playlog import v2
from signage.playlog.keyfile import create_or_load_key
from signage.playlog.writer import LogWriter, log_files
from signage.runtime.clock import VirtualClock

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=TZ).timestamp()


def writer(d: Path, key: SigningKey, clock: VirtualClock, **kw: Any) -> LogWriter:
    w = LogWriter(d, None, TZ, clock, run_id="r" * 12, boot_id="boot-1", signing=key,
                  site_id="demo-mall", **kw)
    w.open()
    return w


def lines_of(d: Path) -> list[tuple[str, bytes]]:
    return [(p.name, ln) for p in log_files(d) for ln in p.read_bytes().splitlines()]


# ---- the independent verifier: docs/log-format.md, "The canonical signed bytes" ----------
def doc_bytes(rec: dict[str, Any]) -> bytes:
    mono_ms = round(rec["mono"] * 1000)
    nk = rec["next_key"] or ""
    text = ("signage-checkpoint-v2\n"
            f"site={rec['site']}\n" f"seq={rec['head_seq']}\n" f"head={rec['head']}\n"
            f"wall={rec['wall']}\n" f"mono_ms={mono_ms}\n" f"boot={rec['boot']}\n"
            f"key={rec['key']}\n" f"next_key={nk}\n")
    return text.encode("utf-8")


def independent_verify(raw_public: bytes, line: bytes) -> bool:
    rec = json.loads(line)
    sig = base64.urlsafe_b64decode(rec["sig"] + "==")
    try:
        Ed25519PublicKey.from_public_bytes(raw_public).verify(sig, doc_bytes(rec))
    except Exception:
        return False
    return True


def independent_chain(lines: list[bytes]) -> bool:
    prev = b"0" * 64
    for ln in lines:
        cut = len(ln) - 74  # ,"mac":"<64 hex>"}
        assert ln[cut:cut + 8] == b',"mac":"'
        if hashlib.sha256(prev + ln[:cut]).hexdigest().encode() != ln[cut + 8:cut + 72]:
            return False
        prev = ln[cut + 8:cut + 72]
    return True


def test_writer_v2_chain_and_checkpoints(tmp_path: Path) -> None:
    key = SigningKey.generate()
    clock = VirtualClock(T0)
    w = writer(tmp_path, key, clock)
    w.append("run_start", site={"id": "demo-mall"})
    for _ in range(100):  # 100 records 1 s apart: checkpoints every 30 s
        clock.advance_to(clock.monotonic() + 1.0)
        w.append("heartbeat", screens={})
    w.append("run_stop", reason="test")
    w.close()
    got = lines_of(tmp_path)
    raw = [ln for _f, ln in got]
    assert independent_chain(raw)
    recs = [json.loads(ln) for ln in raw]
    assert all(r["v"] == 2 for r in recs)
    cps = [(i, r) for i, r in enumerate(recs) if r["type"] == "checkpoint"]
    assert [r["reason"] for _i, r in cps] == ["interval"] * 3 + ["run_stop"]
    assert recs[-1]["type"] == "checkpoint" and recs[-2]["type"] == "run_stop"
    for i, r in cps:
        assert r["head_seq"] == r["seq"] - 1 == recs[i - 1]["seq"]
        assert r["head"] == recs[i - 1]["mac"]
        assert r["key"] == key.key_id and r["site"] == "demo-mall"
        assert independent_verify(key.public.raw, raw[i])
        cp = v2.parse_checkpoint(raw[i])
        assert cp.verify(key.public)
        assert cp.canonical_bytes() == doc_bytes(r)
        assert not cp.verify(SigningKey.generate().public)
    # at most 30 s (plus one record's spacing) between two checkpoints
    monos = [r["mono"] for _i, r in cps]
    assert all(b - a <= 31 for a, b in itertools.pairwise(monos))
    # verify_link on every line
    prev = fmt.GENESIS
    for ln in raw:
        got_mac = v2.verify_link(prev, ln)
        assert got_mac is not None
        prev = got_mac
    assert v2.verify_link(fmt.GENESIS, raw[1]) is None


def test_tampered_checkpoint_fails_both_verifiers(tmp_path: Path) -> None:
    key = SigningKey.generate()
    clock = VirtualClock(T0)
    w = writer(tmp_path, key, clock)
    w.append("run_start")
    clock.advance_to(clock.monotonic() + 31)
    w.append("heartbeat", screens={})
    w.close()
    raw = [ln for _f, ln in lines_of(tmp_path)]
    cp_line = next(ln for ln in raw if b'"type":"checkpoint"' in ln)
    for old, new in ((b'"site":"demo-mall"', b'"site":"demo-mall2"'),
                     (b'"head_seq":1', b'"head_seq":0'), (b'"boot":"boot-1"', b'"boot":"boot-2"'),
                     (b'"wall":"2026', b'"wall":"2027')):
        bad = cp_line.replace(old, new)
        assert bad != cp_line
        assert not independent_verify(key.public.raw, bad)
        try:
            cp = v2.parse_checkpoint(bad)
        except v2.CheckpointError:
            continue
        assert not cp.verify(key.public)


def test_seal_is_preceded_by_a_checkpoint(tmp_path: Path) -> None:
    key = SigningKey.generate()
    clock = VirtualClock(T0)
    w = writer(tmp_path, key, clock)
    w.append("run_start")
    clock.advance_to(clock.monotonic() + 14 * 3600 + 5)  # past local midnight
    w.rotate_if_due()
    w.append("heartbeat", screens={})
    w.close()
    files = log_files(tmp_path)
    assert [p.name for p in files] == ["signage-2026-12-01.jsonl", "signage-2026-12-02.jsonl"]
    day1 = [json.loads(ln) for ln in files[0].read_bytes().splitlines()]
    assert [r["type"] for r in day1] == ["run_start", "checkpoint", "seal"]
    assert day1[1]["reason"] == "seal"
    day2 = [json.loads(ln) for ln in files[1].read_bytes().splitlines()]
    assert [r["type"] for r in day2] == ["heartbeat", "checkpoint"]
    assert day2[-1]["reason"] == "shutdown"
    assert independent_chain([ln for _f, ln in lines_of(tmp_path)])


def test_upgrade_mid_day_starts_a_new_v2_file(tmp_path: Path) -> None:
    clock = VirtualClock(T0)
    w1 = LogWriter(tmp_path, create_or_load_key(tmp_path / "site.key"), TZ, clock,
                   run_id="a" * 12, boot_id="b")
    w1.open()
    w1.append("run_start")
    w1.append("run_stop", reason="upgrade")
    w1.close()
    v1_last = json.loads(lines_of(tmp_path)[-1][1])
    clock.advance_to(clock.monotonic() + 60)
    key = SigningKey.generate()
    w = writer(tmp_path, key, clock)
    w.append("run_start")
    w.append("run_stop", reason="x")
    w.close()
    files = log_files(tmp_path)
    assert [p.name for p in files] == ["signage-2026-12-01.jsonl", "signage-2026-12-01.1.jsonl"]
    first_v2 = [json.loads(ln) for ln in files[1].read_bytes().splitlines()]
    assert all(r["v"] == 2 for r in first_v2)
    assert all(json.loads(ln)["v"] == 1 for ln in files[0].read_bytes().splitlines())
    assert first_v2[0]["seq"] == v1_last["seq"] + 1
    # the v2 file chains on the v1 file's last digest
    assert v2.verify_link(v1_last["mac"].encode(), files[1].read_bytes().splitlines()[0])


def test_rotation_checkpoint(tmp_path: Path) -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    clock = VirtualClock(T0)
    w = writer(tmp_path, old, clock)
    w.append("run_start")
    w.rotate_key(new)
    clock.advance_to(clock.monotonic() + 31)
    w.append("heartbeat", screens={})
    w.close()
    raw = [ln for _f, ln in lines_of(tmp_path)]
    cps = [v2.parse_checkpoint(ln) for ln in raw if b'"type":"checkpoint"' in ln]
    rot = cps[0]
    assert rot.reason == "rotate" and rot.key == old.key_id
    assert rot.next_key == new.public.text and rot.next_public() == new.public
    assert rot.verify(old.public) and not rot.verify(new.public)
    assert independent_verify(old.public.raw, raw[1])
    assert all(c.key == new.key_id and c.verify(new.public) for c in cps[1:])
    assert len(cps) >= 2


def test_parse_checkpoint_refuses_bad_shapes() -> None:
    key = SigningKey.generate()
    fields = v2.checkpoint_fields(key, site="s", head_seq=4, head="a" * 64,
                                  wall="2026-12-01T10:00:00.000+08:00", mono=12.5,
                                  boot="b", reason="interval")
    body = {"v": 2, "seq": 5, "type": "checkpoint", "run": "r", "boot": "b",
            "wall": "2026-12-01T10:00:00.000+08:00", "mono": 12.5, **fields}
    line, _mac = fmt.encode(fmt.PLAIN, b"a" * 64, body)
    assert v2.parse_checkpoint(line).verify(key.public)
    for change, what in ((("seq", 7), "head_seq"), (("sig", "x"), "sig"),
                         (("head", "A" * 64), "head"), (("v", 1), "v"),
                         (("type", "heartbeat"), "type"), (("key", 3), "key")):
        bad = dict(body)
        bad[change[0]] = change[1]
        bline, _ = fmt.encode(fmt.PLAIN, b"a" * 64, bad)
        with pytest.raises(v2.CheckpointError, match=what):
            v2.parse_checkpoint(bline)
    with pytest.raises(v2.CheckpointError):
        v2.parse_checkpoint(b"{}")
    with pytest.raises(v2.CheckpointError):
        v2.canonical_bytes(site="a\nb", head_seq=1, head="a" * 64, wall="w", mono=1.0,
                           boot="b", key="k", next_key=None)


def test_canonical_bytes_names_the_field_with_a_control_character() -> None:
    ok = {"site": "s", "head": "a" * 64, "wall": "w", "boot": "b", "key": "k", "next_key": "n"}
    v2.canonical_bytes(head_seq=1, mono=1.0, **ok)  # clean: no error
    for name in ok:
        for ch in ("\x00", "\n", "\x1f", "\x7f"):
            bad = {**ok, name: ok[name] + ch}
            with pytest.raises(v2.CheckpointError) as got:
                v2.canonical_bytes(head_seq=1, mono=1.0, **bad)
            assert str(got.value).startswith(name), (name, str(got.value))


def test_witness_lines_forms() -> None:
    cp = b'{"v":2,"seq":1,"type":"checkpoint","mac":"' + b"a" * 64 + b'"}'
    text = cp + b"\n\n" + json.dumps({"line": cp.decode(), "received": "x"}).encode() + b"\n"
    assert v2.witness_lines(text, "w") == [(1, cp), (3, cp)]
    with pytest.raises(v2.CheckpointError, match="w:1"):
        v2.witness_lines(b"nonsense", "w")


values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8)
rtypes = st.sampled_from(["showing", "showing_start", "heartbeat", "driver_error",
                          "screen_down", "reload", "driver_event", "dropped"])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=st.lists(st.tuples(rtypes, st.dictionaries(
    st.text(min_size=1, max_size=8).filter(lambda k: k not in fmt.COMMON and k != "mac"),
    values, max_size=4), st.floats(0, 40)), max_size=25))
def test_writer_roundtrip_any_records(tmp_path_factory: pytest.TempPathFactory,
                                      recs: list[tuple[str, dict[str, Any], float]]) -> None:
    d = tmp_path_factory.mktemp("log")
    key = SigningKey.generate()
    clock = VirtualClock(T0)
    w = writer(d, key, clock)
    w.append("run_start")
    for rtype, fields, dt in recs:
        clock.advance_to(clock.monotonic() + dt)
        w.append(rtype, **fields)
    w.append("run_stop", reason="x")
    w.close()
    raw = [ln for _f, ln in lines_of(d)]
    assert independent_chain(raw)
    got = [json.loads(ln) for ln in raw]
    plain = [r for r in got if r["type"] != "checkpoint"]
    assert [r["type"] for r in plain] == ["run_start"] + [r[0] for r in recs] + ["run_stop"]
    for r, (_t, fields, _dt) in zip(plain[1:-1], recs, strict=True):
        for k, v in fields.items():
            assert r[k] == v
    for ln in raw:
        if b'"type":"checkpoint"' in ln:
            assert independent_verify(key.public.raw, ln)
