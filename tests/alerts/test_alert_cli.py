"""`signage alert authority-key / seal / add` against a real daemon: queued while the box is
off, shown when it starts, kept across a restart, cut within a second of its expiry."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from signage.keys import load_signing_key
from tests.logtools import af_gaps, records

from .alertsite import alert_site
from .capgen import CN, cap
from .test_alerts_run import log_recs, shown, wait_for


def cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "signage.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_seal_add_offline_then_shown_kept_across_restart_and_expired_on_time(
        tmp_path: Path) -> None:
    r = cli("alert", "authority-key", "auth.key", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ed25519:")
    key = load_signing_key(tmp_path / "auth.key")
    cfg = alert_site(tmp_path, key)
    now = datetime.now(CN).replace(microsecond=0)
    (tmp_path / "long.xml").write_bytes(cap("L1", sent=now, repeat_s=30))
    (tmp_path / "short.xml").write_bytes(
        cap("S1", sent=now, expires=now + timedelta(seconds=25), headline="短时预警"))
    for n in ("long", "short"):
        r = cli("alert", "seal", f"{n}.xml", "--key", "auth.key", "-o", f"{n}.env",
                cwd=tmp_path)
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
    p = subprocess.Popen([sys.executable, "-m", "signage.cli", "run", "--config", str(cfg),
                          "--for", "60s"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: shown(tmp_path, "L1") == {"s1", "s2", "s3"}, 30, "L1 on start")
        r = cli("alert", "add", "short.env", cwd=tmp_path)
        assert r.returncode == 0 and "accepted" in r.stdout, (r.stdout, r.stderr)
        wait_for(lambda: any(x["type"] == "alert_ended" and x["alert"] == "S1"
                             for x in log_recs(tmp_path)), 40, "S1 expiry")
        time.sleep(2)
    finally:
        p.terminate()
        p.communicate(timeout=30)
    assert p.returncode == 0
    recs = records(tmp_path / "log", tmp_path / "site.key")
    expires = (now + timedelta(seconds=25)).timestamp()
    s1 = [x for x in recs if x["type"] == "showing" and x["item"] == "alert:S1"]
    assert s1
    for x in s1:
        end = datetime.fromisoformat(x["end"]).timestamp()
        assert end <= expires + 1.0, (x["screen"], end - expires)
    for x in recs:
        if x["type"] == "showing_start" and x["item"] == "alert:S1":
            assert datetime.fromisoformat(x["start"]).timestamp() < expires
    assert all(max(g) <= 6.0 for g in af_gaps(recs).values())
    # restart: L1 is still in force (kept in var/alerts), shown again without a new drop
    p = subprocess.Popen([sys.executable, "-m", "signage.cli", "run", "--config", str(cfg),
                          "--for", "8s"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.communicate(timeout=60)
    assert p.returncode == 0
    recs = records(tmp_path / "log", tmp_path / "site.key")
    runs = [x["run"] for x in recs if x["type"] == "run_start"]
    assert len(runs) == 2
    again = {x["screen"] for x in recs if x["type"] == "alert_shown" and x["run"] == runs[1]
             and x["alert"] == "L1"}
    assert again == {"s1", "s2", "s3"}
    restored = [x for x in recs if x["type"] == "alert_received" and x["run"] == runs[1]]
    assert [(x["alert"], x["reason"]) for x in restored] == [("L1", "accepted")]
