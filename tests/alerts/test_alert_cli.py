"""`signage alert authority-key / seal / add` against a real daemon: queued while the box is
off, shown when it starts, kept across a restart, planned to end at its expiry."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from signage.keys import load_signing_key
from tests.logtools import records

from .alertsite import alert_site
from .capgen import CN, cap
from .test_alerts_run import log_recs, shown, wait_for


def cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "signage.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def after_end(recs: list[dict[str, Any]]) -> set[str]:
    """The screens that started a showing after the alert_ended record of S1."""
    ended = [x["seq"] for x in recs if x["type"] == "alert_ended" and x["alert"] == "S1"]
    return {x["screen"] for x in recs if ended and x["type"] == "showing_start"
            and x["seq"] > ended[0]}


def test_seal_add_offline_then_shown_kept_across_restart_and_expired_on_time(
        tmp_path: Path) -> None:
    r = cli("alert", "authority-key", "auth.key", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ed25519:")
    key = load_signing_key(tmp_path / "auth.key")
    cfg = alert_site(tmp_path, key)

    def seal(n: str) -> subprocess.CompletedProcess[str]:
        return cli("alert", "seal", f"{n}.xml", "--key", "auth.key", "-o", f"{n}.env",
                   cwd=tmp_path)

    now = datetime.now(CN).replace(microsecond=0)
    (tmp_path / "long.xml").write_bytes(cap("L1", sent=now, repeat_s=30))
    r = seal("long")
    assert r.returncode == 0, r.stderr
    # a bare XML and a tampered envelope are refused at once, and nothing is queued
    r = cli("alert", "add", "long.xml", cwd=tmp_path)
    assert r.returncode == 1 and "not a signed envelope" in r.stderr
    (tmp_path / "bad.env").write_bytes((tmp_path / "long.env").read_bytes()
                                       .replace(b'"payload":"', b'"payload":"AAAA'))
    r = cli("alert", "add", "bad.env", cwd=tmp_path)
    assert r.returncode == 1 and "does not verify" in r.stderr
    # the box is off: queued
    r = cli("alert", "add", "long.env", "--wait", "0.5", cwd=tmp_path)
    assert r.returncode == 0 and "queued" in r.stdout, (r.stdout, r.stderr)
    # (stopped by the test once it has seen what it needs; 10 min only bounds a hang)
    p = subprocess.Popen([sys.executable, "-m", "signage.cli", "run", "--config", str(cfg),
                          "--for", "10m"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: shown(tmp_path, "L1") == {"s1", "s2", "s3"}, 120, "L1 on start")
        # the short alert expires 40 s after it is written: time for the two CLI calls and
        # its first showing however busy the machine is (the expiry is signed, so it is fixed
        # before sealing)
        sent = datetime.now(CN).replace(microsecond=0)
        expires = (sent + timedelta(seconds=40)).timestamp()
        (tmp_path / "short.xml").write_bytes(
            cap("S1", sent=sent, expires=sent + timedelta(seconds=40), headline="短时预警"))
        r = seal("short")
        assert r.returncode == 0, r.stderr
        r = cli("alert", "add", "short.env", cwd=tmp_path)
        assert r.returncode == 0 and "accepted" in r.stdout, (r.stdout, r.stderr)
        wait_for(lambda: any(x["type"] == "alert_ended" and x["alert"] == "S1"
                             for x in log_recs(tmp_path)), 120, "S1 expiry")
        wait_for(lambda: after_end(log_recs(tmp_path)) == {"s1", "s2", "s3"}, 120,
                 "a showing after S1 ended on every screen")
    finally:
        p.terminate()
        p.communicate(timeout=120)
    assert p.returncode == 0
    recs = records(tmp_path / "log", tmp_path / "site.key")
    ended = next(x for x in recs if x["type"] == "alert_ended" and x["alert"] == "S1")
    assert ended["reason"] == "expired"
    assert datetime.fromisoformat(ended["wall"]).timestamp() >= expires
    s1 = [x for x in recs if x["type"] == "showing" and x["item"] == "alert:S1"]
    assert s1
    for x in s1:
        # S1 was planned to end by its expiry: the switch that followed it on its screen was
        # planned at or before that instant (the records say when it was due and when it
        # came; how late a busy machine made it is a latency, not what this test checks)
        nxt = next(y for y in recs if y["type"] == "showing_start"
                   and y["screen"] == x["screen"] and y["seq"] > x["seq"])
        assert datetime.fromisoformat(nxt["planned"]).timestamp() <= expires + 0.001, x
        assert datetime.fromisoformat(x["end"]).timestamp() < expires + 60  # (a hang)
    for x in recs:
        if x["type"] == "showing_start" and x["item"] == "alert:S1":
            assert datetime.fromisoformat(x["planned"]).timestamp() < expires
    # (the gap rule with alerts on is proven on the virtual clock: test_alert_gaps.py)
    # restart: L1 is still in force (kept in var/alerts), shown again without a new drop
    p = subprocess.Popen([sys.executable, "-m", "signage.cli", "run", "--config", str(cfg),
                          "--for", "10m"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)

    def l1_in_second_run() -> set[str]:
        rs = log_recs(tmp_path)
        second = [x["seq"] for x in rs if x["type"] == "run_start"][1:]
        return {x["screen"] for x in rs if second and x["seq"] > second[0]
                and x["type"] == "alert_shown" and x["alert"] == "L1"}

    try:
        wait_for(lambda: l1_in_second_run() == {"s1", "s2", "s3"}, 120, "L1 after restart")
    finally:
        p.terminate()
        p.communicate(timeout=120)
    assert p.returncode == 0
    recs = records(tmp_path / "log", tmp_path / "site.key")
    runs = [x["run"] for x in recs if x["type"] == "run_start"]
    assert len(runs) == 2
    again = {x["screen"] for x in recs if x["type"] == "alert_shown" and x["run"] == runs[1]
             and x["alert"] == "L1"}
    assert again == {"s1", "s2", "s3"}
    restored = [x for x in recs if x["type"] == "alert_received" and x["run"] == runs[1]]
    assert [(x["alert"], x["reason"]) for x in restored] == [("L1", "accepted")]
