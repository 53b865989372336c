"""Operator slips that must be refused, not survived (issue 11, items 4-8): a second daemon
on one log, `simulate --log` on the real log, a lost or replaced key, a stray future-dated
file. Real daemons, real files."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from .helpers import audit_here as audit_cli
from .helpers import report, signage_popen, signage_run, stop
from .test_disk_full import fill, tmpfs  # noqa: F401 (tmpfs: a fixture)


def _snapshot(log: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(log.glob("signage-*"))}


def _wait_for(pred: Callable[[], bool], timeout: float = 30) -> None:
    t0 = time.monotonic()
    while not pred():
        assert time.monotonic() - t0 < timeout, "timed out"
        time.sleep(0.1)


def test_a_second_daemon_on_the_same_log_is_refused_naming_the_first(
        site: Callable[..., Path]) -> None:
    cfg = site()
    base = cfg.parent
    first = signage_popen("run", "--config", str(cfg), "--for", "30s", cwd=base)
    try:
        _wait_for(lambda: any((base / "log").glob("signage-*.jsonl")))
        t0 = time.monotonic()
        second = signage_run("run", "--config", str(cfg), "--for", "2s", cwd=base, timeout=60)
        took = time.monotonic() - t0
        assert second.returncode == 3, second.stderr
        lines = [x for x in second.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and f"pid {first.pid}" in lines[0], second.stderr
        # and simulate on that log while the daemon runs: the same refusal
        sim = signage_run("simulate", "--config", str(cfg), "--for", "1m", "--log", "log",
                          cwd=base)
        assert sim.returncode == 3 and f"pid {first.pid}" in sim.stderr, sim.stderr
    finally:
        stop(first)
    assert first.returncode == 0
    res = audit_cli([base / "log"], base / "site.key", "--format", "json")
    assert res.code in (0, 1) and res.doc["integrity"]["intact"], res.err
    report("slips: second daemon", refused_in_s=round(took, 2), message=lines[0][:80])


def test_simulate_refuses_a_log_of_another_key_or_of_mode_run(
        site: Callable[..., Path]) -> None:
    cfg = site()
    base = cfg.parent
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=base)
    assert r.returncode == 0, r.stderr
    before = _snapshot(base / "log")
    r = signage_run("simulate", "--config", str(cfg), "--for", "10m", "--log", "log", cwd=base)
    assert r.returncode == 3 and "Traceback" not in r.stderr, r.stderr
    assert _snapshot(base / "log") == before, "simulate wrote into the real log"
    assert not (base / "log" / "simulate.key").exists()
    # the real key copied next to it changes nothing: a run log is never a simulate log
    (base / "log" / "simulate.key").write_bytes((base / "site.key").read_bytes())
    (base / "log" / "simulate.key").chmod(0o600)
    r = signage_run("simulate", "--config", str(cfg), "--for", "10m", "--log", "log", cwd=base)
    assert r.returncode == 3 and "mode = run" in r.stderr, r.stderr
    assert _snapshot(base / "log") == before
    # a simulate log of another key (its key lost): refused too
    r = signage_run("simulate", "--config", str(cfg), "--for", "10m", "--log", "sim", cwd=base)
    assert r.returncode == 0, r.stderr
    (base / "sim" / "simulate.key").unlink()
    r = signage_run("simulate", "--config", str(cfg), "--for", "10m", "--log", "sim", cwd=base)
    assert r.returncode == 3 and "missing" in r.stderr, r.stderr
    report("slips: simulate --log on the real log", refused=True)


def test_a_lost_or_replaced_key_is_refused_and_a_new_chain_is_explicit(
        site: Callable[..., Path], tmp_path: Path) -> None:
    cfg = site()
    base = cfg.parent
    log, key = base / "log", base / "site.key"
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=base)
    assert r.returncode == 0, r.stderr
    old_key = key.read_bytes()
    before = _snapshot(log)
    key.unlink()  # lost
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=base)
    assert r.returncode == 3 and "missing" in r.stderr and "new-chain" in r.stderr, r.stderr
    assert not key.exists() and _snapshot(log) == before
    key.write_bytes(b"ab" * 32 + b"\n")  # replaced
    key.chmod(0o600)
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=base)
    assert r.returncode == 3 and "does not verify" in r.stderr, r.stderr
    assert _snapshot(log) == before
    # the deliberate way: a new chain, with the break marked
    r = signage_run("new-chain", "--config", str(cfg), "--reason", "key lost with the SD card",
                    cwd=base)
    assert r.returncode == 0, r.stderr
    archives = list(log.glob("chain-*"))
    assert len(archives) == 1 and _snapshot(archives[0]) == before
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=base)
    assert r.returncode == 0, r.stderr
    res = audit_cli([log], key, "--format", "json")
    assert res.code in (0, 1) and res.doc["integrity"]["intact"], res.err
    assert any("starts a new chain" in w and "key lost with the SD card" in w
               for w in res.doc["warnings"]), res.doc["warnings"]
    # the old chain is still verifiable with the old key
    (tmp_path / "old.key").write_bytes(old_key)
    (tmp_path / "old.key").chmod(0o600)
    res = audit_cli([archives[0]], tmp_path / "old.key", "--format", "json")
    assert res.code in (0, 1) and res.doc["integrity"]["intact"], res.err
    report("slips: lost key", refused=True, new_chain="marked in run_start")


def test_a_future_dated_file_is_not_written_and_is_flagged(site: Callable[..., Path]) -> None:
    cfg = site()
    base = cfg.parent
    log = base / "log"
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=base)
    assert r.returncode == 0, r.stderr
    stray = log / "signage-2099-01-01.jsonl"
    stray.write_bytes(b"")
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=base)
    assert r.returncode == 0, r.stderr
    assert stray.read_bytes() == b"", "the writer wrote into a file dated 2099"
    assert "signage-2099-01-01.jsonl" in r.stderr and "stray" in r.stderr, r.stderr
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()  # the site's day
    assert sum(1 for x in (log / f"signage-{today}.jsonl").read_bytes().splitlines()
               if b'"type":"run_start"' in x) == 2
    res = audit_cli([log], base / "site.key", "--format", "json")
    kinds = [f["kind"] for f in res.doc["integrity"]["findings"]]
    assert "stray_file" in kinds, res.doc["integrity"]["findings"]
    # a copy of today's file under a later name: its head is no newer, so it is a stray too
    real = log / f"signage-{today}.jsonl"
    copy = log / "signage-2099-01-02.jsonl"
    copy.write_bytes(real.read_bytes())
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=base)
    assert r.returncode == 0, r.stderr
    assert copy.read_bytes() != real.read_bytes() and "signage-2099-01-02.jsonl" in r.stderr
    assert sum(1 for x in real.read_bytes().splitlines() if b'"type":"run_start"' in x) == 3
    report("slips: future-dated file", flagged=True)


def test_a_disk_full_until_the_stop_says_what_was_lost_and_notes_it_at_the_next_start(
        site: Callable[..., Path], tmpfs: Path) -> None:  # noqa: F811
    cfg = site()
    text = cfg.read_text("utf-8").replace('dir = "log"', f'dir = "{tmpfs / "log"}"')
    cfg.write_text(text, "utf-8")
    base = cfg.parent
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=base)
    assert r.returncode == 0, r.stderr
    before = _snapshot(tmpfs / "log")
    filler = fill(tmpfs)
    r = signage_run("run", "--config", str(cfg), "--for", "3s", cwd=base)
    assert r.returncode == 4, (r.returncode, r.stderr)
    assert "records were lost" in r.stderr and "Traceback" not in r.stderr, r.stderr
    after = _snapshot(tmpfs / "log")  # (the slack of the file's last page may take a few)
    assert all(after[k].startswith(v) for k, v in before.items()), "bytes were changed"
    filler.unlink()
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=base)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for p in sorted((tmpfs / "log").glob("signage-*.jsonl"))
            for x in p.read_bytes().splitlines()]
    notes = [x for x in recs if x["type"] == "dropped" and x.get("at_stop")]
    assert len(notes) == 1 and notes[0]["count"] > 0 and notes[0]["types"], notes
    assert not (tmpfs / "log" / ".dropped.json").exists()
    res = audit_cli([tmpfs / "log"], base / "site.key", "--format", "json")
    assert res.doc["integrity"]["intact"], res.err
    assert any("dropped" in w for w in res.doc["warnings"]), res.doc["warnings"]
    report("slips: disk full until the stop", lost=notes[0]["count"], exit_status=4)
