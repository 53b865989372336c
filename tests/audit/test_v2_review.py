"""Review of log format 2 (issue 12): claims the audit must not credit.

- a checkpoint signed by another site's key (registered in the same trust file, as in a
  bureau's file of many shops) cannot vouch for this site's log;
- records after the last checkpoint (the unsigned tail) can be chained by anyone (plain
  SHA-256): they are reported, never credited.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from signage.keys import SigningKey
from signage.playlog.writer import LogWriter, log_files

from .logkit import DAY0, TZ, Daemon, FakeClock, audit, lines, site, write_lines

A = SigningKey.generate()
B = SigningKey.generate()


def _trust(path: Path, entries: list[tuple[str, SigningKey]]) -> Path:
    out = ["version = 1"]
    for sid, k in entries:
        out += ["", "[[site]]", f'id = "{sid}"', "  [[site.key]]", f'  public = "{k.public.text}"',
                "  valid_from = 2020-01-01T00:00:00+08:00"]
    path.write_text("\n".join(out) + "\n", "utf-8")
    return path


def _audit(d: Path, tf: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out, err = audit(d, "--trust", tf, "--format", "json", *extra, key=None)
    assert out.strip(), (code, err)
    return code, json.loads(out)


def _day(d: Path, n: int, *, signing: SigningKey | None = A,
         at: dict[int, Callable[[Daemon], None]] | None = None) -> Daemon:
    """A run of ``n`` anti-fraud showings of 10 s every 40 s from 08:00, ``at[k]`` done after
    the k-th, then a clean stop (format 2 signed by ``signing``; format 1 when None)."""
    clock = FakeClock(DAY0 + 8 * 3600)
    dm = Daemon(d, clock, site(), signing=signing)
    t = clock.mono
    for k in range(n):
        dm.showing("s1", "af1", True, t, t + 10)
        t += 40
        if at is not None and k in at:
            at[k](dm)
    dm.stop(t)
    return dm


def test_a_checkpoint_of_another_site_does_not_vouch_for_this_log(tmp_path: Path) -> None:
    """run_start names shop-7; every checkpoint is for shop-8, signed by shop-8's real key."""
    d = tmp_path / "log"
    clock = FakeClock(DAY0 + 8 * 3600)
    w = LogWriter(d, None, ZoneInfo(TZ), clock, run_id=secrets.token_hex(6), boot_id="boot-a",
                  fsync="batch", batch_ms=10**9, signing=B, site_id="shop-8")
    w.open()
    w.append("run_start", version="0.1.0", mode="run", **site())
    dm = Daemon.__new__(Daemon)
    dm.w, dm.clock = w, clock
    t = clock.mono
    for _ in range(15):
        dm.showing("s1", "af1", True, t, t + 10)
        t += 40
        dm.heartbeat(t)
    dm.stop(t)
    tf = _trust(tmp_path / "trust.toml", [("shop-7", A), ("shop-8", B)])
    code, doc = _audit(d, tf)
    assert code == 2 and doc["verdict"] == "integrity_broken", doc["integrity"]["findings"]
    msgs = [f["message"] for f in doc["integrity"]["findings"] if f["kind"] == "signature"]
    assert msgs and "shop-8" in msgs[0] and "shop-7" in msgs[0], msgs
    assert doc["integrity"]["signatures"]["last_signed"] is None


def _forge_tail(d: Path, clock: FakeClock, first: float, until: float) -> int:
    """Append, without any key, showings every 40 s from ``first`` to ``until`` (mono), each
    chained on the last line with plain SHA-256 as format 2 allows: what anyone can write."""
    f = log_files(d)[-1]
    ls = lines(f)
    last = json.loads(ls[-1])
    prev, seq = last["mac"].encode(), last["seq"]

    def iso(m: float) -> str:
        return datetime.fromtimestamp(clock.wall_of(m), ZoneInfo(TZ)).isoformat(
            timespec="milliseconds")

    new: list[bytes] = []
    s = first
    while s + 10 <= until:
        seq += 1
        obj = {"v": 2, "seq": seq, "type": "showing", "run": last["run"], "boot": last["boot"],
               "wall": iso(s + 10), "mono": round(s + 10, 3), "screen": "s1", "item": "af1",
               "playlist": "af", "kind": "text", "category": "冒充客服", "anti_fraud": True,
               "planned": iso(s), "start": iso(s), "end": iso(s + 10),
               "start_mono": round(s, 3), "end_mono": round(s + 10, 3),
               "outcome": "completed", "reason": ""}
        prefix = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()[:-1]
        mac = hashlib.sha256(prev + prefix).hexdigest().encode()
        new.append(prefix + b',"mac":"' + mac + b'"}\n')
        prev = mac
        s += 40
    write_lines(f, ls + new)
    return len(new)


def test_an_unsigned_tail_is_never_credited(tmp_path: Path) -> None:
    """A real log signed up to 08:10 (the box then dies); anyone appends showings up to 09:00
    on a site open 08:00-09:00. Before: 50 forged minutes were credited (signed 600 s of 3,600,
    the verdict resting on what nobody signed). Now the tail is reported and not credited."""
    d = tmp_path / "log"
    clock = FakeClock(DAY0 + 8 * 3600)
    dm = Daemon(d, clock, site(hours=["08:00-09:00"]), signing=A)
    t0 = t = clock.mono
    nhb = t + 30
    while t + 40 <= t0 + 600:
        dm.showing("s1", "af1", True, t, t + 10)
        t += 40
        while nhb <= t:
            dm.heartbeat(nhb)
            nhb += 30
    dm.crash()  # the writer closes with a checkpoint: everything up to here is signed
    forged = _forge_tail(d, clock, t, t0 + 3600)
    assert forged > 60
    tf = _trust(tmp_path / "trust.toml", [("shop-7", A)])
    code, doc = _audit(d, tf)
    day = doc["days"][0]
    assert doc["integrity"]["signatures"]["unsigned_tail"]["records"] == forged
    assert day["audited_s"] == day["signed_s"] <= 600, day
    assert day["af_showings"] == 15, day
    assert any("not credited" in w for w in doc["warnings"]), doc["warnings"]
    # judged up to 09:00, the unsigned time is a gap, not compliance
    code, doc = _audit(d, tf, "--to", "2026-11-30T09:00:00+08:00")
    assert code == 1 and doc["verdict"] == "violations", doc["days"]
    assert doc["days"][0]["max_gap_s"] >= 3000, doc["days"]


def test_a_witness_with_a_hostile_mono_is_refused_by_line_not_a_crash(tmp_path: Path) -> None:
    """A witness file is anyone's text. A checkpoint whose mono is not a finite number of a
    sane size used to end the audit with "internal error: OverflowError" (exit 3, no line)."""
    d = tmp_path / "log"
    _day(d, 3)
    cp = [ln for ln in lines(log_files(d)[-1]) if b'"type":"checkpoint"' in ln][-1]
    tf = _trust(tmp_path / "trust.toml", [("shop-7", A)])
    for mono in (b"1e400", b"NaN", b"-Infinity", b"1" + b"0" * 400, b"1e300"):
        w = tmp_path / "w.jsonl"
        w.write_bytes(b"\n" + re.sub(rb'"mono":[0-9.]+', b'"mono":' + mono, cp, count=1))
        code, _out, err = audit(d, "--trust", tf, "--witness", w, key=None)
        assert code == 3, (mono, code, err)
        assert f"{w}:2" in err and "mono" in err and "internal error" not in err, (mono, err)


def test_deeply_nested_json_is_damage_not_a_crash(tmp_path: Path) -> None:
    """A record anyone can chain (format 2) holding 100,000 nested arrays, and a witness line
    of nested arrays: json's RecursionError ended the audit with "internal error" (exit 3)
    instead of a verdict; the daemon's own start reads the log's records the same way."""
    from signage.playlog import format as fmt

    deep = b"[" * 100_000 + b"]" * 100_000
    try:
        fmt.decode(b'{"x":' + deep + b"}")
        raise AssertionError("decoded")
    except ValueError:
        pass
    d = tmp_path / "log"
    _day(d, 3)
    f = log_files(d)[-1]
    ls = lines(f)
    last = json.loads(ls[-1])
    prev, seq = last["mac"].encode(), last["seq"]
    for rtype in ("reload", "run_start", "showing", "clock_step"):
        seq += 1
        pre = (f'{{"v":2,"seq":{seq},"type":"{rtype}","run":"{last["run"]}","boot":'
               f'"{last["boot"]}","wall":"{last["wall"]}","mono":{last["mono"]},"x":'
               ).encode() + deep
        prev = hashlib.sha256(prev + pre).hexdigest().encode()
        ls.append(pre + b',"mac":"' + prev + b'"}\n')
    write_lines(f, ls)
    tf = _trust(tmp_path / "trust.toml", [("shop-7", A)])
    code, doc = _audit(d, tf)
    assert code in (0, 1, 2) and doc["verdict"], (code, doc)
    w = tmp_path / "w.jsonl"
    w.write_bytes(b'{"line":' + deep + b"}\n")
    code, _out, err = audit(d, "--trust", tf, "--witness", w, key=None)
    assert code == 3 and f"{w}:1" in err and "internal error" not in err, err


def test_a_format_1_file_after_format_2_is_credited_only_under_a_checkpoint(
        tmp_path: Path) -> None:
    """A downgrade: a format-2 log, then a format-1 file chained on it with the site key
    (which the site holds, and which the audit asks for because of that file). Before: the
    format-1 showings were credited, 'compliant' over an hour of which 370 s were signed."""
    from signage.playlog import format as fmt

    from .logkit import KEY

    d = tmp_path / "log"
    clock = FakeClock(DAY0 + 8 * 3600)
    dm = Daemon(d, clock, site(hours=["08:00-09:00"]), signing=A)
    t0 = t = clock.mono
    for _ in range(10):
        dm.showing("s1", "af1", True, t, t + 10)
        t += 40
    dm.crash()
    f = log_files(d)[-1]
    last = json.loads(lines(f)[-1])
    prev, seq = last["mac"].encode(), last["seq"]

    def iso(m: float) -> str:
        return datetime.fromtimestamp(clock.wall_of(m), ZoneInfo(TZ)).isoformat(
            timespec="milliseconds")

    run = "ffffffffffff"
    common = {"run": run, "boot": last["boot"]}
    out: list[bytes] = []
    line, prev = fmt.encode(KEY, prev, {"v": 1, "seq": seq + 1, "type": "run_start", **common,
                                        "wall": iso(t + 0.5), "mono": round(t + 0.5, 3),
                                        "version": "0.1.0", "mode": "run",
                                        **site(hours=["08:00-09:00"])})
    out.append(line)
    seq += 1
    s = t + 1
    while s + 10 < t0 + 3600:
        seq += 1
        line, prev = fmt.encode(KEY, prev, {
            "v": 1, "seq": seq, "type": "showing", **common, "wall": iso(s + 10),
            "mono": round(s + 10, 3), "screen": "s1", "item": "af1", "playlist": "af",
            "kind": "text", "category": "x", "anti_fraud": True, "planned": iso(s),
            "start": iso(s), "end": iso(s + 10), "start_mono": round(s, 3),
            "end_mono": round(s + 10, 3), "outcome": "completed", "reason": ""})
        out.append(line)
        s += 40
    (d / f.name.replace(".jsonl", ".1.jsonl")).write_bytes(b"".join(out))
    tf = _trust(tmp_path / "trust.toml", [("shop-7", A)])
    code, o, _err = audit(d, "--trust", tf, "--format", "json", "--to",
                         "2026-11-30T09:00:00+08:00", key=KEY, tmp=tmp_path)
    doc = json.loads(o)
    assert doc["integrity"]["format_versions"] == [2, 1], doc["integrity"]
    day = doc["days"][0]
    assert code == 1 and doc["verdict"] == "violations", (code, day)
    assert day["af_showings"] == 10 and day["max_gap_s"] > 3000, day
    assert any("downgrade" in w for w in doc["warnings"]), doc["warnings"]


def test_a_format_1_log_of_a_site_with_a_registered_key_says_what_it_rests_on(
        tmp_path: Path) -> None:
    """The trust file registers shop-7's signing key since 2020; a format-1 log of 2026 (which
    the site could have written with its own HMAC key, or rewritten from a format-2 one) is
    audited as before, and the audit says that it rests on the site key only."""
    from .logkit import KEY

    d = tmp_path / "log"
    _day(d, 5, signing=None)
    tf = _trust(tmp_path / "trust.toml", [("shop-7", A)])
    code, o, _err = audit(d, "--trust", tf, "--format", "json", key=KEY, tmp=tmp_path)
    doc = json.loads(o)
    assert code == 0 and doc["integrity"]["format_versions"] == [1]
    assert any("registers a signing key for site shop-7" in w for w in doc["warnings"]), \
        doc["warnings"]
    # a site without a registered key: no such warning
    tf2 = _trust(tmp_path / "trust2.toml", [("shop-9", A)])
    _code, o, _err = audit(d, "--trust", tf2, "--format", "json", key=KEY, tmp=tmp_path)
    assert not any("registers a signing key" in w for w in json.loads(o)["warnings"])


def test_a_repeated_rotation_after_the_new_key_signed_is_refused(tmp_path: Path) -> None:
    """A rotation repeated with the old key is accepted only for what it is for (a crash
    between the rotation checkpoint and the key swap): before the new key has signed
    anything. After that, the old key (retired, maybe because it leaked) signs nothing; it
    used to be accepted as often as it named the same new key."""
    new = SigningKey.generate()
    d = tmp_path / "log"

    def again(dm: Daemon) -> None:  # the new key has signed several checkpoints by now
        dm.w._signing = A  # the old key's holder repeats the rotation
        dm.w.rotate_key(new)

    _day(d, 30, at={5: lambda dm: dm.w.rotate_key(new), 15: again})
    tf = _trust(tmp_path / "trust.toml", [("shop-7", A)])
    code, doc = _audit(d, tf)
    assert code == 2, doc["integrity"]["findings"]
    msgs = [f["message"] for f in doc["integrity"]["findings"] if f["kind"] == "signature"]
    assert any("retired" in m for m in msgs), msgs


def test_a_rotation_repeated_at_once_is_still_accepted(tmp_path: Path) -> None:
    """The crash case: the rotation checkpoint is written again before the new key signs."""
    new = SigningKey.generate()
    d = tmp_path / "log"

    def twice(dm: Daemon) -> None:
        dm.w.rotate_key(new)
        dm.w._signing = A  # (the swap did not happen: the daemon restarted)
        dm.w.rotate_key(new)

    _day(d, 10, at={3: twice})
    tf = _trust(tmp_path / "trust.toml", [("shop-7", A)])
    code, doc = _audit(d, tf)
    assert code == 0, doc["integrity"]["findings"]


def test_a_rotation_does_not_revive_a_key_the_trust_file_limits(tmp_path: Path) -> None:
    """The trust file lists the new key too, valid only until 2021 (revoked). A rotation by
    the old key naming it used to make it trusted without limit."""
    new = SigningKey.generate()
    d = tmp_path / "log"
    _day(d, 10, at={3: lambda dm: dm.w.rotate_key(new)})
    tf = tmp_path / "trust.toml"
    tf.write_text("version = 1\n\n[[site]]\nid = \"shop-7\"\n"
                  f"  [[site.key]]\n  public = \"{A.public.text}\"\n"
                  "  valid_from = 2020-01-01T00:00:00+08:00\n"
                  f"  [[site.key]]\n  public = \"{new.public.text}\"\n"
                  "  valid_from = 2020-01-01T00:00:00+08:00\n"
                  "  valid_to = 2021-01-01T00:00:00+08:00\n", "utf-8")
    code, doc = _audit(d, tf)
    assert code == 2, doc["integrity"]["findings"]
    assert any("validity" in f["message"] for f in doc["integrity"]["findings"])
    # nor does a witness signed by it count
    w = tmp_path / "w.jsonl"
    w.write_bytes([ln for ln in lines(log_files(d)[-1]) if new.key_id.encode() in ln
                   and b'"next_key":null' in ln][-1])
    code, doc = _audit(d, tf, "--witness", str(w))
    assert [x["status"] for x in doc["integrity"]["signatures"]["witnesses"]] == \
        ["not_signed"], doc["integrity"]["signatures"]["witnesses"]


def test_an_overlong_unsigned_stretch_drops_claims_not_configuration(
        tmp_path: Path, monkeypatch: Any) -> None:
    """More events than HOLD_MAX wait for a checkpoint (here in small chunks): their showings
    are given up (an under-claim that bounds the memory), but a reload among them still
    changes the hours. Before, the reload that widened the hours was given up with them and the
    wider hours' gap went unjudged (an over-claim)."""
    from signage.audit import signedfeed
    from signage.audit.model import AuditResult
    from signage.audit.reader import discover
    from signage.audit.run import Options, run
    from signage.trust import load_trust

    monkeypatch.setattr(signedfeed, "HOLD_MAX", 5)
    d = tmp_path / "log"
    clock = FakeClock(DAY0 + 8 * 3600)
    dm = Daemon(d, clock, site(hours=["08:00-08:02"]), signing=A)
    t0 = clock.mono
    for k in range(12):
        dm.showing("s1", "af1", True, t0 + 1 + 2 * k, t0 + 2 + 2 * k)
        if k == 3:
            new = site(hours=["08:00-08:10"])
            dm.append(t0 + 8.5, "reload", accepted=True, problems=[], config_sha256="d" * 64,
                      playlists_sha256={}, rule=new["rule"], hours=new["hours"],
                      screens=new["screens"], items=new["items"])
    for t in range(30, 101, 10):
        dm.showing("s1", "af1", True, t0 + t, t0 + t + 1)
    dm.stop(t0 + 600)
    files, complete = discover([d])
    trust = load_trust(_trust(tmp_path / "trust.toml", [("shop-7", A)]))
    integ, comp = run(files, Options(key=None, trust=trust, chunk=512), complete_dir=complete)
    res = AuditResult(integ, comp, None)
    assert integ.intact, integ.findings
    assert res.verdict == "violations", comp.days
    [day] = comp.days["s1"].values()
    assert day.open_ms == 600_000 and day.max_gap_ms > 400_000, day
