"""Tampering is detected; a torn tail alone is tolerated; bad input gets a clear message."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from signage.playlog import format as fmt

from .logkit import DAY0, KEY, Daemon, FakeClock, audit, audit_json, lines, site, write_lines

D1, D2, D3 = "signage-2026-11-30.jsonl", "signage-2026-12-01.jsonl", "signage-2026-12-02.jsonl"


def _window(d: Daemon, a: float, b: float) -> None:
    t = a
    while t + 10 < b:
        d.showing_start("s1", "af1", True, t)
        d.showing("s1", "af1", True, t, t + 10)
        d.heartbeat(t + 20)
        t += 40


def make_log(root: Path) -> Path:
    """Three files: 11-30 23:57 to 12-01 00:03, then 12-01 23:58 to 12-02 00:02 (two seals),
    one run, AF every 40 s (the rule holds only around midnight: hours are 23:00-01:00)."""
    log = root / "log"
    c = FakeClock(DAY0, mono=0.0)
    d = Daemon(log, c, site(hours=["00:00-00:30", "23:30-24:00"]), start=86400 - 180)
    _window(d, 86400 - 170, 86400 + 180)
    _window(d, 2 * 86400 - 120, 2 * 86400 + 110)
    d.stop(2 * 86400 + 120)
    return log


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return make_log(tmp_path)


def test_intact_log_with_two_rotations(log: Path, tmp_path: Path) -> None:
    assert sorted(p.name for p in log.glob("signage-*")) == [D1, D2, D3]
    _code, doc = audit_json(log, "--to", "2026-12-02T00:02", tmp=tmp_path)
    i = doc["integrity"]
    assert i["intact"] and i["findings"] == []
    assert [f["sealed"] for f in i["files"]] == [True, True, False]
    assert i["head"]["file"] == D3 and i["head"]["seq"] == i["records"] - 1


def _broken(tmp: Path, log: Path, kind: str, *extra: str) -> dict[str, object]:
    code, doc = audit_json(log, *extra, tmp=tmp)
    assert code == 2, doc["integrity"]
    assert doc["verdict"] == "integrity_broken"
    kinds = {f["kind"] for f in doc["integrity"]["findings"] if f["breaks"]}
    assert kind in kinds, doc["integrity"]["findings"]
    return doc


def test_edited_record(log: Path, tmp_path: Path) -> None:
    ls = lines(log / D2)
    i = next(n for n, ln in enumerate(ls) if b'"type":"showing"' in ln and n > 5)
    ls[i] = ls[i].replace(b'"outcome":"completed"', b'"outcome":"cut_short"')
    write_lines(log / D2, ls)
    doc = _broken(tmp_path, log, "digest")
    f = next(f for f in doc["integrity"]["findings"] if f["kind"] == "digest")
    assert (f["file"], f["line"]) == (D2, i + 1)  # type: ignore[index]


@pytest.mark.parametrize("field", [b'"mono":', b'"end_mono":'])
@pytest.mark.parametrize("value", [b"1e400", b"-1e400", b"Infinity", b"NaN"])
def test_edited_number_out_of_float_range(log: Path, tmp_path: Path, field: bytes,
                                          value: bytes) -> None:
    """A number edited to one no float holds (1e400 reads as infinity) is a damaged record,
    exit 2, by both scanners: not an internal error (exit 3, as if the file were unreadable),
    nor a NaN that garbles the times of the records after it."""
    ls = lines(log / D2)
    i = next(n for n, ln in enumerate(ls) if b'"type":"showing"' in ln and n > 5)
    at = ls[i].index(field) + len(field)
    end = ls[i].index(b",", at)
    ls[i] = ls[i][:at] + value + ls[i][end:]
    write_lines(log / D2, ls)
    for pure in ("1", "0"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SIGNAGE_PURE_PYTHON", pure)
            _broken(tmp_path, log, "digest" if field == b'"end_mono":' else "malformed")


def test_edited_digest(log: Path, tmp_path: Path) -> None:
    ls = lines(log / D2)
    ls[7] = ls[7][:-5] + (b"0" if ls[7][-5:-4] != b"0" else b"1") + ls[7][-4:]
    write_lines(log / D2, ls)
    _broken(tmp_path, log, "digest")


def test_deleted_record(log: Path, tmp_path: Path) -> None:
    ls = lines(log / D2)
    del ls[10]
    write_lines(log / D2, ls)
    doc = _broken(tmp_path, log, "digest")
    assert "sequence" in doc["integrity"]["finding_counts"]  # type: ignore[operator]


def test_inserted_record(log: Path, tmp_path: Path) -> None:
    ls = lines(log / D2)
    ls.insert(12, ls[4])
    write_lines(log / D2, ls)
    _broken(tmp_path, log, "digest")


def test_reordered_records(log: Path, tmp_path: Path) -> None:
    ls = lines(log / D2)
    ls[20], ls[21] = ls[21], ls[20]
    write_lines(log / D2, ls)
    _broken(tmp_path, log, "digest")


def test_deleted_first_and_last_records_of_a_file(log: Path, tmp_path: Path) -> None:
    ls = lines(log / D2)
    write_lines(log / D2, ls[1:])
    _broken(tmp_path, log, "digest")
    write_lines(log / D2, ls[:-1])  # the seal is gone: the next file does not follow
    _broken(tmp_path, log, "missing")


def test_missing_file_in_the_middle(log: Path, tmp_path: Path) -> None:
    (log / D2).unlink()
    doc = _broken(tmp_path, log, "seal")
    assert "missing" in doc["integrity"]["finding_counts"]  # type: ignore[operator]


def test_renamed_file_breaks_the_seal(log: Path, tmp_path: Path) -> None:
    (log / D2).rename(log / "signage-2026-12-01.1.jsonl")
    _broken(tmp_path, log, "seal")


def test_truncated_tail_needs_an_anchor(log: Path, tmp_path: Path) -> None:
    code, out, _ = audit(log, "--anchor", tmp=tmp_path)
    assert code == 0
    anchor = out.strip()
    name, _seq, mac = anchor.split(":")
    assert name == D3 and len(mac) == 64
    code, doc = audit_json(log, "--expect-anchor", anchor, tmp=tmp_path)
    assert code in (0, 1) and doc["integrity"]["anchor"]["found"] is True
    ls = lines(log / D3)
    write_lines(log / D3, ls[:-3])  # whole records cut off: the chain alone cannot tell...
    code, doc = audit_json(log, tmp=tmp_path)
    assert doc["integrity"]["intact"] is True
    # ... but the log no longer ends with run_stop, which is said
    assert [f["kind"] for f in doc["integrity"]["findings"]] == ["open_end"]
    doc = _broken(tmp_path, log, "anchor", "--expect-anchor", anchor)
    assert "before the anchor" in doc["integrity"]["anchor"]["message"]  # type: ignore[index]


def test_rewritten_tail_with_the_key_is_caught_by_the_anchor(log: Path, tmp_path: Path) -> None:
    code, out, _ = audit(log, "--anchor", tmp=tmp_path)
    assert code == 0
    anchor = out.strip()
    ls = lines(log / D3)
    # an insider with the key rewrites the last record (a valid chain, different content)
    prev = fmt.split(ls[-2].rstrip(b"\n"))
    assert prev is not None
    rec = fmt.decode(ls[-1])
    rec.pop("mac")
    rec["reason"] = "maintenance"
    line, _mac = fmt.encode(KEY, prev[1], rec)
    write_lines(log / D3, [*ls[:-1], line])
    _code, doc = audit_json(log, tmp=tmp_path)
    assert doc["integrity"]["intact"] is True
    doc = _broken(tmp_path, log, "anchor", "--expect-anchor", anchor)
    assert "rewritten" in doc["integrity"]["anchor"]["message"]  # type: ignore[index]


def test_torn_tail_alone_is_tolerated(log: Path, tmp_path: Path) -> None:
    data = (log / D3).read_bytes()
    torn = b'{"v":1,"seq":99999,"type":"heartb'
    (log / D3).write_bytes(data + torn)
    code, doc = audit_json(log, "--to", "2026-12-02T00:02", tmp=tmp_path)
    assert code in (0, 1)
    i = doc["integrity"]
    assert i["intact"] is True
    assert i["files"][-1]["torn_tail"]["length"] == len(torn)
    assert i["files"][-1]["torn_tail"]["offset"] == len(data)
    assert [f["kind"] for f in i["findings"]] == ["torn_tail"]


def test_torn_tail_then_restart_continues_in_a_new_part(tmp_path: Path) -> None:
    log = tmp_path / "log"
    c = FakeClock(DAY0, mono=0.0)
    d = Daemon(log, c, site(), start=3600)
    d.showing("s1", "af1", True, 3600, 3610)
    d.crash()
    with open(log / D1, "ab") as fh:
        fh.write(b'{"v":1,"seq":3,"type":"showing","run":"ab')  # power cut mid-line
    d2 = Daemon(log, c, site(), start=3650)
    d2.showing("s1", "af1", True, 3650, 3660)
    d2.stop(3670)
    assert {p.name for p in log.glob("signage-*")} == {D1, "signage-2026-11-30.1.jsonl"}
    code, doc = audit_json(log, tmp=tmp_path)
    i = doc["integrity"]
    assert i["intact"] is True, i["findings"]
    assert i["files"][0]["torn_tail"] is not None
    assert [f["kind"] for f in i["findings"]] == []  # announced by the next run's torn_tail
    assert code == 0  # 40 s between the two anti-fraud showings, across the restart


def test_wrong_key(log: Path, tmp_path: Path) -> None:
    code, doc = audit_json(log, tmp=tmp_path, key=b"f" * 64)
    assert code == 2
    [f] = [f for f in doc["integrity"]["findings"] if f["breaks"]]
    assert f["kind"] == "wrong_key" and "key does not verify" in f["message"]
    code, out, _err = audit(log, tmp=tmp_path, key=b"f" * 64)
    assert code == 2 and "key does not verify" in out


def test_gzip_files_are_read(log: Path, tmp_path: Path) -> None:
    for name in (D1, D2):
        with gzip.open(log / (name + ".gz"), "wb") as gz:
            gz.write((log / name).read_bytes())
        (log / name).unlink()
    code, doc = audit_json(log, "--to", "2026-12-02T00:02", tmp=tmp_path)
    assert doc["integrity"]["intact"] is True
    assert [f["compressed"] for f in doc["integrity"]["files"]] == [True, True, False]
    raw = (log / (D2 + ".gz")).read_bytes()
    (log / (D2 + ".gz")).write_bytes(raw[: len(raw) // 2])
    code, _out, err = audit(log, tmp=tmp_path)
    assert code == 3 and "gzip" in err


@pytest.mark.parametrize("content", [
    b"hello, this is not a log\n",
    bytes(range(256)) * 10,
    b"",
])
def test_not_a_log(tmp_path: Path, content: bytes) -> None:
    d = tmp_path / "junk"
    d.mkdir()
    (d / D1).write_bytes(content)
    code, _out, err = audit(d, tmp=tmp_path)
    assert code == 3
    assert "Traceback" not in err and err.startswith("signage audit: ")
    assert "not a signage log" in err or "empty" in err


def test_usage_errors(log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no var/site.key here
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, needle in [((empty,), "no log files"), ((tmp_path / "nope",), "no such file"),
                         ((), "no log given"), ((log, "--format", "xml"), "--format"),
                         ((log, "--max-gap", "abc"), "--max-gap"),
                         ((log, "--expect-anchor", "x:1"), "--expect-anchor"),
                         ((log, "--jobs", "0"), "--jobs"),
                         ((log, "--from", "yesterday-ish"), "--from")]:
        code, _out, err = audit(*args, tmp=tmp_path)
        assert code == 3, (args, err)
        assert needle in err and "Traceback" not in err
    code, _out, err = audit(log, key=None)
    assert code == 3 and "--key" in err
    bad = tmp_path / "loose.key"
    bad.write_bytes(KEY)
    bad.chmod(0o644)
    code, _out, err = audit(log, "--key", bad, key=None)
    assert code == 3 and "chmod 600" in err


def test_unknown_format_version(log: Path, tmp_path: Path) -> None:
    # a file written by a newer signage (every record of another version) is not read
    ls = [ln.replace(b'{"v":1,', b'{"v":3,') for ln in lines(log / D2)]
    write_lines(log / D2, ls)
    code, _out, err = audit(log, tmp=tmp_path)
    assert code == 3 and "version 3" in err


@pytest.mark.parametrize("at", [0, 3])
def test_one_record_of_another_version_is_damage(log: Path, tmp_path: Path, at: int) -> None:
    # a flipped byte in "v":1 among v1 records (the power-loss torture found this)
    ls = lines(log / D2)
    ls[at] = ls[at].replace(b'{"v":1,', b'{"v":5,')
    write_lines(log / D2, ls)
    _broken(tmp_path, log, "malformed")


def _crafted(tmp: Path, monos: list[float], seqs: list[int] | None = None) -> Path:
    """A log written with format.encode directly (as an insider with the key could)."""
    d = tmp / "crafted"
    d.mkdir()
    fields = site()
    prev = fmt.GENESIS
    out = []
    for n, mono in enumerate(monos):
        body = {"v": 1, "seq": (seqs or list(range(len(monos))))[n],
                "type": "run_start" if n == 0 else "heartbeat", "run": "r1", "boot": "b1",
                "wall": f"2026-11-30T08:00:{n:02d}.000+08:00", "mono": mono}
        body.update(fields if n == 0 else {"screens": {}})
        line, prev = fmt.encode(KEY, prev, body)
        out.append(line)
    (d / D1).write_bytes(b"".join(out))
    return d


def test_monotonic_time_going_back(tmp_path: Path) -> None:
    d = _crafted(tmp_path, [10.0, 11.0, 5.0, 12.0])
    _broken(tmp_path, d, "mono")


def test_small_monotonic_jitter_is_a_warning(tmp_path: Path) -> None:
    d = _crafted(tmp_path, [10.0, 11.0, 10.9, 12.0])
    _code, doc = audit_json(d, tmp=tmp_path)
    assert doc["integrity"]["intact"] is True
    assert [f["kind"] for f in doc["integrity"]["findings"]] == ["mono_jitter", "open_end"]


def test_duplicate_sequence_number(tmp_path: Path) -> None:
    d = _crafted(tmp_path, [10.0, 11.0, 12.0, 13.0], seqs=[0, 1, 1, 2])
    _broken(tmp_path, d, "sequence")


def _partial_in_other_formats(log: Path, tmp_path: Path) -> None:
    """Table, CSV and HTML of a partial log say "partial" and never "intact"."""
    code, out, err = audit(log, key=KEY, tmp=tmp_path)
    assert code == 5, err
    assert "PARTIAL" in out and "verified from seq 4 on" in out, out
    assert "[green]" not in out
    code, out, err = audit(log, "--format", "csv", key=KEY, tmp=tmp_path)
    assert code == 5, err
    first = out.splitlines()[0]
    assert first.startswith("# PARTIAL LOG, NOT INTACT") and "seq 4" in first, out
    rep = tmp_path / "report.html"
    code, _out, err = audit(log, "--report", rep, key=KEY, tmp=tmp_path)
    assert code == 5, err
    html = rep.read_text()
    assert "id='partial'" in html and "verdict partial" in html, html[:3000]
    assert "PARTIAL, not intact: verified from seq 4 on" in html


def test_partial_log_is_not_intact(tmp_path: Path) -> None:
    log = tmp_path / "log"
    c = FakeClock(DAY0, mono=0.0)
    d = Daemon(log, c, site(), start=3600)
    d.showing("s1", "af1", True, 3600, 3610)
    d.stop(3620)
    d2 = Daemon(log, c, site(), start=86400 + 3600)  # restarted the next day: a new file
    d2.showing("s1", "af1", True, 86400 + 3600, 86400 + 3610)
    d2.stop(86400 + 3620)
    d3 = Daemon(log, c, site(), start=86400 + 3622)  # and again: a verified run_start
    d3.showing("s1", "af1", True, 86400 + 3622, 86400 + 3632)
    d3.stop(86400 + 3640)
    (log / D1).unlink()  # older files removed (retention)
    code, doc = audit_json(log, tmp=tmp_path)
    i = doc["integrity"]
    # honest retention is not tampering (no break, not exit 2), but never "intact" (issue 11)
    assert code == 5 and doc["verdict"] == "partial" and doc["exit_code"] == 5
    assert i["intact"] is False and i["state"] == "partial"
    assert i["partial"]["verified_from_seq"] == 4
    assert i["partial"]["unverified"] == [{"file": D2, "line": 1, "seq": 3, "type": "run_start"}]
    assert "seq 4" in i["partial"]["message"], i["partial"]
    assert [f["kind"] for f in i["findings"]] == ["partial_start"]
    assert not any(f["breaks"] for f in i["findings"])
    assert i["unverified"] == [{"file": D2, "line": 1, "seq": 3, "type": "run_start"}]
    _partial_in_other_formats(log, tmp_path)
    # the unverified first record is never the yardstick: with no other run_start, the
    # site is unknown (exit 3), and the message says why
    kept = lines(log / D2)
    second = next(i for i, x in enumerate(kept) if i and b'"type":"run_start"' in x)
    (log / D2).write_bytes(b"".join(kept[:second]))
    code, _out, err = audit(log, tmp=tmp_path)
    assert code == 3 and "cannot be checked" in err and "--trust" in err, err
    (log / D2).write_bytes(b"".join(lines(log / D2)[1:]))  # now no run_start is left
    code, _out, err = audit(log, tmp=tmp_path)
    assert code == 3 and "no run_start" in err


def test_torn_tail_in_a_gzip_file(log: Path, tmp_path: Path) -> None:
    data = (log / D3).read_bytes() + b'{"v":1,"seq":77,"ty'
    with gzip.open(log / (D3 + ".gz"), "wb") as gz:
        gz.write(data)
    (log / D3).unlink()
    code, doc = audit_json(log, "--jobs", "2", tmp=tmp_path)
    assert code in (0, 1)
    i = doc["integrity"]
    assert i["intact"] is True
    assert i["files"][-1]["torn_tail"]["length"] == 19
    assert [f["kind"] for f in i["findings"]] == ["torn_tail"]


def test_truncated_middle_file_breaks_the_chain(log: Path, tmp_path: Path) -> None:
    ls = lines(log / D2)
    write_lines(log / D2, ls[:-6])  # no anchor needed: the next file does not chain on
    doc = _broken(tmp_path, log, "digest")
    assert "missing" in doc["integrity"]["finding_counts"]  # type: ignore[operator]
