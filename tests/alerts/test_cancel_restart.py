"""A cancelled alert stays cancelled across a restart of the real daemon, also once the
Cancel's own expires has passed (it came back on every screen: at restore the Cancel was
refused as expired and the alert it ended was in force again)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from signage.keys import load_signing_key
from tests.logtools import records

from .alertsite import alert_site
from .capgen import CN, cap, ref
from .test_alert_cli import cli


def _run(cfg: Path, cwd: Path, secs: int) -> None:
    p = subprocess.run([sys.executable, "-m", "signage.cli", "run", "--config", str(cfg),
                        "--for", f"{secs}s"], cwd=cwd, capture_output=True, text=True,
                       timeout=120, check=False)
    assert p.returncode == 0, p.stderr


def test_a_cancel_outlives_its_own_expires_across_a_restart(tmp_path: Path) -> None:
    r = cli("alert", "authority-key", "auth.key", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    cfg = alert_site(tmp_path, load_signing_key(tmp_path / "auth.key"))
    now = datetime.now(CN).replace(microsecond=0)
    (tmp_path / "a.xml").write_bytes(cap("L1", sent=now, expires=now + timedelta(days=2)))
    cancel_expires = now + timedelta(seconds=20)
    (tmp_path / "c.xml").write_bytes(cap("C1", sent=now, msg_type="Cancel",
                                         references=ref("L1", now), expires=cancel_expires))
    for n in ("a", "c"):
        r = cli("alert", "seal", f"{n}.xml", "--key", "auth.key", "-o", f"{n}.env",
                cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    r = cli("alert", "add", "a.env", "--wait", "0.5", cwd=tmp_path)
    assert r.returncode == 0 and "queued" in r.stdout, (r.stdout, r.stderr)
    _run(cfg, tmp_path, 5)  # L1 accepted (and kept)
    r = cli("alert", "add", "c.env", "--wait", "0.5", cwd=tmp_path)
    assert r.returncode == 0 and "queued" in r.stdout, (r.stdout, r.stderr)
    _run(cfg, tmp_path, 5)  # L1 restored, then cancelled by C1
    while datetime.now(CN) <= cancel_expires + timedelta(seconds=1):
        time.sleep(0.5)
    _run(cfg, tmp_path, 8)  # after C1's own expires
    recs = records(tmp_path / "log", tmp_path / "site.key")
    runs = [x["run"] for x in recs if x["type"] == "run_start"]
    assert len(runs) == 3
    ended = [x for x in recs if x["type"] == "alert_ended" and x["alert"] == "L1"]
    assert ended and ended[0]["reason"] == "cancelled" and ended[0]["run"] == runs[1]
    last = [x for x in recs if x["run"] == runs[2]]
    assert not [x for x in last if x["type"] == "alert_shown"], "a cancelled alert came back"
    assert not [x for x in last if x["type"] == "showing" and x["item"] == "alert:L1"]
