"""The audit of log format 2: signatures with public keys only, rotations (and a forged one),
witnesses, the unsigned tail, coverage, a box upgraded mid-day (v1 and v2 files in one log),
and the writer/audit round trip over record types and contents (hypothesis)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signage.keys import SigningKey
from signage.playlog import v2
from signage.playlog.writer import log_files

from .logkit import DAY0, KEY, Daemon, FakeClock, audit, lines, site, trust_file, write_lines

OLD = SigningKey.generate()
SITE_ID = "shop-7"


def _day(d: Path, key: SigningKey = OLD, *, minutes: int = 10, rotate_to: SigningKey | None = None,
         stop: bool = True, start: float = 8 * 3600) -> Daemon:
    """A run of ``minutes``: AF showings of 10 s every 40 s, heartbeats every 30 s."""
    clock = FakeClock(DAY0 + start)
    dm = Daemon(d, clock, site(), signing=key)
    t = clock.mono
    end = t + minutes * 60
    mid = t + minutes * 30
    nxt_hb = t + 30
    while t + 40 <= end:
        dm.showing("s1", "af1", True, t, t + 10)
        t += 40
        while nxt_hb <= t:
            dm.heartbeat(nxt_hb)
            nxt_hb += 30
        if rotate_to is not None and t >= mid:
            dm.w.rotate_key(rotate_to)
            rotate_to = None
    if stop:
        dm.stop(end)
    return dm


def _audit(d: Path, tmp: Path, *keys: Any, witness: list[Path] | None = None,
           extra: tuple[str, ...] = ()) -> tuple[int, dict[str, Any], str]:
    tf = trust_file(tmp / "trust.toml", SITE_ID, *(keys or (OLD.public,)))
    args: list[str | Path] = [d, "--trust", tf, "--format", "json", *extra]
    for w in witness or []:
        args += ["--witness", w]
    code, out, err = audit(*args, key=None)
    return code, (json.loads(out) if out.strip() else {}), err


def _kinds(doc: dict[str, Any]) -> set[str]:
    return {f["kind"] for f in doc["integrity"]["findings"] if f["breaks"]}


def test_v2_log_audits_with_the_public_key_only(tmp_path: Path) -> None:
    d = tmp_path / "log"
    _day(d)
    code, doc, err = _audit(d, tmp_path)
    assert code == 0, (err, doc.get("integrity", {}).get("findings"))
    i = doc["integrity"]
    assert i["intact"] and i["format_versions"] == [2]
    sig = i["signatures"]
    assert sig["keys"] == [OLD.key_id] and sig["checkpoints"] >= 10
    assert sig["unsigned_tail"] == {"records": 0, "since": None}
    assert sig["last_signed"]["seq"] == i["head"]["seq"]
    row = doc["days"][0]
    assert row["signed_s"] > 0 and row["witnessed_s"] == 0
    # the signed span is the log's first to its last checkpoint (the period here)
    assert row["signed_s"] == row["audited_s"]


def test_v2_needs_the_trust_file(tmp_path: Path) -> None:
    d = tmp_path / "log"
    _day(d, minutes=2)
    code, _out, err = audit(d, key=None)
    assert code == 3 and "--trust" in err


def test_a_key_not_in_the_trust_file_breaks_integrity(tmp_path: Path) -> None:
    d = tmp_path / "log"
    _day(d, minutes=2)
    code, doc, _err = _audit(d, tmp_path, SigningKey.generate().public)
    assert code == 2 and "signature" in _kinds(doc)
    assert doc["integrity"]["signatures"]["last_signed"] is None


def test_a_key_outside_its_validity_breaks_integrity(tmp_path: Path) -> None:
    d = tmp_path / "log"
    _day(d, minutes=2)
    code, doc, _err = _audit(d, tmp_path, (OLD.public, "2020-01-01T00:00:00+08:00",
                                           "2021-01-01T00:00:00+08:00"))
    assert code == 2 and "signature" in _kinds(doc)
    assert any("validity" in f["message"] for f in doc["integrity"]["findings"])


def test_unsigned_tail_is_counted(tmp_path: Path) -> None:
    d = tmp_path / "log"
    dm = _day(d, minutes=3, stop=False)
    # records written after the last checkpoint, then the process dies (no close)
    t = dm.clock.mono
    dm.showing("s1", "af1", True, t + 1, t + 5)
    dm.heartbeat(t + 6)
    dm.w._fd, fd = -1, dm.w._fd  # a crash: no closing checkpoint
    dm.w._drain()
    import os
    os.close(fd)
    code, doc, _err = _audit(d, tmp_path)
    sig = doc["integrity"]["signatures"]
    ls = [ln for p in log_files(d) for ln in lines(p)]
    last_cp = max(i for i, ln in enumerate(ls) if b'"type":"checkpoint"' in ln)
    assert sig["unsigned_tail"]["records"] == len(ls) - 1 - last_cp >= 2, sig
    assert code == 0  # the chain is intact; the tail is reported, not a break


def test_rotation_is_followed(tmp_path: Path) -> None:
    d = tmp_path / "log"
    new = SigningKey.generate()
    _day(d, rotate_to=new)
    code, doc, err = _audit(d, tmp_path)  # the trust file lists only the old key
    assert code == 0, (err, doc["integrity"]["findings"])
    sig = doc["integrity"]["signatures"]
    assert sig["keys"] == [OLD.key_id, new.key_id]
    assert sig["rotations"] == [{**sig["rotations"][0], "from_key": OLD.key_id,
                                 "to_key": new.key_id, "verified": True}]
    assert sig["last_signed"]["seq"] == doc["integrity"]["head"]["seq"]


def test_old_key_after_rotation_is_refused(tmp_path: Path) -> None:
    """A checkpoint signed by the retired key after the rotation: a break."""
    d = tmp_path / "log"
    new = SigningKey.generate()
    dm = _day(d, rotate_to=new, stop=False)
    dm.w._signing = OLD  # the old key keeps signing (as a thief of the old key would)
    dm.stop(dm.clock.mono + 31)
    code, doc, _err = _audit(d, tmp_path)
    assert code == 2 and "signature" in _kinds(doc)
    assert any("retired" in f["message"] for f in doc["integrity"]["findings"])


def _rechain(files: list[Path], signer: SigningKey | None = None, *,
             edit: Any = None) -> None:
    """Rewrite the log as someone without the box's key can: apply ``edit`` to the records
    (a function of the record dict, or None), recompute every SHA-256 digest and every
    checkpoint's head; re-sign the checkpoints with ``signer`` when given."""
    prev = b"0" * 64
    for p in files:
        out = []
        for ln in lines(p):
            rec = json.loads(ln)
            rec.pop("mac")
            if edit is not None:
                edit(rec)
            if rec["type"] == "checkpoint":
                rec["head"] = prev.decode()
                rec["head_seq"] = rec["seq"] - 1
                if signer is not None:
                    rec.update(v2.checkpoint_fields(
                        signer, site=rec["site"], head_seq=rec["head_seq"], head=rec["head"],
                        wall=rec["wall"], mono=rec["mono"], boot=rec["boot"],
                        reason=rec["reason"], next_key=None))
            prefix = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))[:-1].encode()
            prev = hashlib.sha256(prev + prefix).hexdigest().encode()
            out.append(prefix + b',"mac":"' + prev + b'"}\n')
        write_lines(p, out)


def test_forged_rotation(tmp_path: Path) -> None:
    """Someone without the old key rewrites the rotation to name their own key, re-chains
    the log and signs what follows with it: the rotation's signature does not verify."""
    d = tmp_path / "log"
    new, thief = SigningKey.generate(), SigningKey.generate()
    _day(d, rotate_to=new)
    after = [False]

    def edit(rec: dict[str, Any]) -> None:
        if rec["type"] == "checkpoint" and rec.get("next_key"):
            rec["next_key"] = thief.public.text  # the old key's signature is kept
            after[0] = True

    _rechain(log_files(d), edit=edit)
    # the thief signs the checkpoints after the rotation with the key they named
    files = log_files(d)
    prev = b"0" * 64
    seen = False
    for p in files:
        out = []
        for ln in lines(p):
            rec = json.loads(ln)
            rec.pop("mac")
            if rec["type"] == "checkpoint":
                if seen:
                    rec.update(v2.checkpoint_fields(
                        thief, site=rec["site"], head_seq=rec["seq"] - 1, head=prev.decode(),
                        wall=rec["wall"], mono=rec["mono"], boot=rec["boot"],
                        reason=rec["reason"]))
                seen = seen or bool(rec.get("next_key"))
            prefix = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))[:-1].encode()
            prev = hashlib.sha256(prev + prefix).hexdigest().encode()
            out.append(prefix + b',"mac":"' + prev + b'"}\n')
        write_lines(p, out)
    assert after[0]
    code, doc, _err = _audit(d, tmp_path)
    assert code == 2 and "signature" in _kinds(doc)
    sig = doc["integrity"]["signatures"]
    assert sig["rotations"][0]["verified"] is False
    assert any("forged rotation" in f["message"] for f in doc["integrity"]["findings"])
    # nothing after the forged rotation is covered
    assert sig["last_signed"]["seq"] < sig["rotations"][0]["seq"]


def test_rechained_edit_is_caught_by_the_signatures(tmp_path: Path) -> None:
    d = tmp_path / "log"
    _day(d)

    done = []

    def edit(rec: dict[str, Any]) -> None:
        if rec["type"] == "showing" and rec["seq"] >= 5 and not done:
            rec["end_mono"] += 20  # a longer showing
            done.append(rec["seq"])

    _rechain(log_files(d), edit=edit)
    assert done
    code, doc, _err = _audit(d, tmp_path)
    assert code == 2 and _kinds(doc) == {"signature"}


def test_witness_catches_a_log_regenerated_with_the_real_key(tmp_path: Path) -> None:
    """The site manager holds the box's key: a regenerated log verifies everywhere, except
    against a checkpoint that was copied off the box before."""
    d = tmp_path / "log"
    _day(d)
    cps = [ln for ln in lines(log_files(d)[0]) if b'"type":"checkpoint"' in ln]
    witness = tmp_path / "w.jsonl"
    witness.write_bytes(cps[len(cps) // 2])
    code, doc, _err = _audit(d, tmp_path, witness=[witness])
    assert code == 0 and doc["integrity"]["signatures"]["witnesses"][0]["status"] == "agrees"
    assert doc["days"][0]["witnessed_s"] > 0

    done = []

    def edit(rec: dict[str, Any]) -> None:
        if rec["type"] == "showing" and rec["seq"] >= 3 and not done:
            rec["end_mono"] += 20
            done.append(rec["seq"])

    _rechain(log_files(d), OLD, edit=edit)
    assert done
    code, doc, _err = _audit(d, tmp_path)
    assert code == 0  # without the witness, nothing shows it (docs/security.md)
    code, doc, _err = _audit(d, tmp_path, witness=[witness])
    assert code == 2 and _kinds(doc) == {"witness"}
    f = next(f for f in doc["integrity"]["findings"] if f["kind"] == "witness")
    wrec = json.loads(cps[len(cps) // 2])
    assert f["seq"] == wrec["seq"] and f["file"] == log_files(d)[0].name
    assert wrec["mac"] in f["message"] and str(wrec["seq"]) in f["message"]
    log_mac = json.loads(next(ln for ln in lines(log_files(d)[0])
                              if json.loads(ln)["seq"] == wrec["seq"]))["mac"]
    assert log_mac in f["message"]


def test_witness_beyond_a_cut_tail_and_hub_form_and_unsigned_witness(tmp_path: Path) -> None:
    d = tmp_path / "log"
    _day(d)
    ls = lines(log_files(d)[0])
    last_cp = next(ln for ln in reversed(ls) if b'"type":"checkpoint"' in ln)
    hub = tmp_path / "hub.jsonl"
    hub.write_text(json.dumps({"site": SITE_ID, "received": "2026-11-30T10:00:00+08:00",
                               "line": last_cp.decode().strip()}) + "\n", "utf-8")
    bogus = json.loads(last_cp)
    bogus["seq"] += 1000
    bogus["head_seq"] += 1000
    fake = tmp_path / "fake.jsonl"
    fake.write_text(json.dumps(bogus, ensure_ascii=False, separators=(",", ":")) + "\n",
                    "utf-8")  # well-formed, but its signature is not for that content
    write_lines(log_files(d)[0], ls[:-20])  # the tail cut at a line boundary
    code, doc, _err = _audit(d, tmp_path, witness=[hub, fake])
    assert code == 2 and _kinds(doc) == {"witness"}
    st_ = {w["source"].split(":")[0].rsplit("/", 1)[-1]: w["status"]
           for w in doc["integrity"]["signatures"]["witnesses"]}
    assert st_ == {"hub.jsonl": "missing", "fake.jsonl": "not_signed"}


def test_witness_file_errors_are_exit_3(tmp_path: Path) -> None:
    d = tmp_path / "log"
    _day(d, minutes=2)
    w = tmp_path / "w.jsonl"
    w.write_text("hello\n")
    code, _doc, err = _audit(d, tmp_path, witness=[w])
    assert code == 3 and "w.jsonl:1" in err


def test_upgrade_mid_day_audits_both_versions(tmp_path: Path) -> None:
    d = tmp_path / "log"
    clock = FakeClock(DAY0 + 8 * 3600)
    dm = Daemon(d, clock, site())
    dm.showing("s1", "af1", True, clock.mono, clock.mono + 10)
    dm.stop(clock.mono + 20)
    dm2 = Daemon(d, clock, site(), signing=OLD, start=clock.mono + 30)
    t = clock.mono
    for k in range(8):
        dm2.showing("s1", "af1", True, t + 40 * k, t + 40 * k + 10)
    dm2.stop(t + 330)
    names = [p.name for p in log_files(d)]
    assert names == ["signage-2026-11-30.jsonl", "signage-2026-11-30.1.jsonl"]
    tf = trust_file(tmp_path / "trust.toml", SITE_ID, OLD.public)
    code, out, err = audit(d, "--trust", tf, "--format", "json", key=KEY, tmp=tmp_path)
    doc = json.loads(out)
    assert doc["integrity"]["format_versions"] == [1, 2]
    assert code in (0, 1) and doc["integrity"]["intact"], (err, doc["integrity"]["findings"])
    # without the site key, the v1 part cannot be verified: a usage error, as before
    code, _out, err = audit(d, "--trust", tf, key=None)
    assert code == 3 and "--key" in err


@pytest.mark.parametrize("fmt_", ["table", "csv"])
def test_other_outputs_say_what_claims_rest_on(tmp_path: Path, fmt_: str) -> None:
    d = tmp_path / "log"
    _day(d, minutes=3)
    tf = trust_file(tmp_path / "trust.toml", SITE_ID, OLD.public)
    code, out, _err = audit(d, "--trust", tf, "--format", fmt_, "--max-gap", "20",
                            "--report", tmp_path / "r.html", key=None)
    assert code == 1
    if fmt_ == "csv":
        head, first = out.splitlines()[:2]
        assert head.endswith(",signed,witnessed") and first.endswith(",yes,no")
    else:
        assert "signed up to" in out and "witnesses: none given" in out
    html = (tmp_path / "r.html").read_text("utf-8")
    assert "Signatures and witnesses" in html and OLD.key_id in html


# ---- the round trip: whatever the writer writes, the audit reads back as intact -----------
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
values = st.recursive(st.none() | st.booleans() | st.integers(-10**9, 10**9) | text,
                      lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=3),
                      max_leaves=6)
record = st.one_of(
    st.tuples(st.just("showing"), st.booleans(), text, st.floats(0.1, 50)),
    st.tuples(st.just("heartbeat"), st.dictionaries(text, values, max_size=3)),
    st.tuples(st.sampled_from(["driver_event", "mystery"]), st.dictionaries(
        text.filter(lambda k: k not in ("v", "seq", "type", "run", "boot", "wall", "mono",
                                        "mac", "screen", "kind")), values, max_size=3)),
    st.tuples(st.sampled_from(["screen_down", "screen_up", "driver_error"]), text),
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(recs=st.lists(st.tuples(record, st.floats(0.0, 40.0)), max_size=30))
def test_round_trip(tmp_path_factory: pytest.TempPathFactory,
                    recs: list[tuple[tuple[Any, ...], float]]) -> None:
    tmp = tmp_path_factory.mktemp("rt")
    d = tmp / "log"
    clock = FakeClock(DAY0 + 8 * 3600)
    dm = Daemon(d, clock, site(), signing=OLD)
    t = clock.mono
    for rec, dt in recs:
        t += dt
        kind = rec[0]
        if kind == "showing":
            _k, af, item, length = rec
            dm.showing("s1", item or "x", af, t, t + length)
            t += length
        elif kind == "heartbeat":
            dm.append(t, "heartbeat", screens=rec[1])
        elif kind in ("driver_event", "mystery"):
            dm.append(t, kind, screen="s1", kind="k", **rec[1])
        elif kind == "screen_up":
            dm.append(t, kind, screen="s1", down_s=1.0)
        else:
            dm.append(t, kind, screen="s1", reason=rec[1], item=None, error="rejected",
                      message=rec[1])
    dm.stop(t + 1)
    code, doc, err = _audit(d, tmp)
    assert code in (0, 1), (err, doc.get("integrity", {}).get("findings"))
    i = doc["integrity"]
    assert i["intact"] and i["signatures"]["unsigned_tail"]["records"] == 0
    assert i["records"] == sum(1 for p in log_files(d) for _ in lines(p))
    n_af = sum(1 for r, _dt in recs if r[0] == "showing" and r[1])
    assert sum(s["af_showings"] for s in doc["screens"]) == n_af


def test_a_checkpoint_for_another_site_vouches_for_nothing(tmp_path: Path) -> None:
    """The signer holds another shop's registered key and signs this shop's log as that shop:
    the checkpoints name the other site, the log's run_start this one."""
    d = tmp_path / "log"
    other = SigningKey.generate()
    clock = FakeClock(DAY0 + 8 * 3600)
    dm = Daemon(d, clock, site(), signing=other)
    dm.w._site_id = "shop-8"
    t = clock.mono
    for k in range(4):
        dm.showing("s1", "af1", True, t + 40 * k, t + 40 * k + 10)
    dm.stop(t + 170)
    tf = tmp_path / "trust.toml"
    tf.write_text(f'version = 1\n[[site]]\nid = "shop-7"\n  [[site.key]]\n  public = '
                  f'"{OLD.public.text}"\n  valid_from = 2020-01-01T00:00:00+08:00\n'
                  f'[[site]]\nid = "shop-8"\n  [[site.key]]\n  public = '
                  f'"{other.public.text}"\n  valid_from = 2020-01-01T00:00:00+08:00\n', "utf-8")
    code, out, _err = audit(d, "--trust", tf, "--format", "json", key=None)
    doc = json.loads(out)
    assert code == 2 and "signature" in _kinds(doc)
    assert any("shop-8" in f["message"] for f in doc["integrity"]["findings"])
    assert doc["integrity"]["signatures"]["last_signed"] is None


def test_anchor_works_on_a_v2_log_too(tmp_path: Path) -> None:
    d = tmp_path / "log"
    _day(d)
    tf = trust_file(tmp_path / "trust.toml", SITE_ID, OLD.public)
    code, out, _err = audit(d, "--trust", tf, "--anchor", key=None)
    assert code == 0 and out.count(":") == 2
    anchor = out.strip()
    p = log_files(d)[0]
    write_lines(p, lines(p)[:-3])
    code, out, _err = audit(d, "--trust", tf, "--expect-anchor", anchor, "--format", "json",
                            key=None)
    assert code == 2 and "anchor" in _kinds(json.loads(out))


def test_partial_v2_log_is_signed_from_its_second_record_only(tmp_path: Path) -> None:
    """Format 2, oldest file removed (retention): the checkpoints' signed heads commit to the
    first remaining record's *claimed* digest, but that digest is SHA-256(previous digest +
    line) and the previous record is gone, so the first record's content is verified by
    nothing, signature or chain. The audit says "partial" (exit 5, never intact), and the
    signed span starts at the second record."""
    d = tmp_path / "log"
    clock = FakeClock(DAY0, mono=0.0)
    for start in (3600, 86400 + 3600, 86400 + 3800):  # day 1, then two runs on day 2
        dm = Daemon(d, clock, site(), start=start, signing=OLD)
        for k in range(5):
            dm.showing("s1", "af1", True, start + 40 * k, start + 40 * k + 10)
        dm.stop(start + 200)
    first, second = log_files(d)
    first.unlink()
    seq0 = json.loads(lines(second)[0])["seq"]
    code, doc, err = _audit(d, tmp_path)
    i = doc["integrity"]
    assert code == 5 and doc["verdict"] == "partial", err
    assert i["intact"] is False and i["state"] == "partial"
    assert i["partial"]["verified_from_seq"] == seq0 + 1
    assert i["unverified"][0]["seq"] == seq0
    wall1 = json.loads(lines(second)[1])["wall"]
    sig = i["signatures"]
    assert sig["signatures_verified"] >= 1 and sig["signed"][0]["from"] == wall1, sig
    # a rewrite of that first record (keeping its seq and digest) changes nothing: the
    # verdict does not rest on it, and the signatures still verify
    ls = lines(second)
    assert b'"max_gap_s":60.0' in ls[0]
    ls[0] = ls[0].replace(b'"max_gap_s":60.0', b'"max_gap_s":3600.0')
    write_lines(second, ls)
    code2, doc2, _err = _audit(d, tmp_path)
    assert code2 == 5 and doc2["integrity"]["signatures"] == sig
