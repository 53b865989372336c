"""A log written by `signage simulate` (mode = simulate) is never proof of play: the audit
gives it its own verdict, "simulated", and exit 4, with a banner in every output format; a
real log holding a simulate-mode run is judged the same way (issue 10 item 4)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from tests.logtools import trust_for

from .logkit import DAY0, Daemon, FakeClock, audit, site

H8 = 8 * 3600.0


def signage(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "signage.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=180, check=False)


def test_simulate_log_has_its_own_verdict_in_every_format(site_dir: Path) -> None:
    log = site_dir / "simlog"
    res = signage("simulate", "--config", str(site_dir / "config.toml"), "--start",
                  "2026-12-01 09:00", "--for", "1h", "--log", str(log), cwd=site_dir)
    assert res.returncode == 0, res.stderr
    # the shipped config writes format 2: audited with the public key only
    trust = trust_for(site_dir / "keys.toml", "hz-wensan-0001", log / "simulate-signing.key")
    base = ["audit", str(log), "--trust", str(trust)]
    table = signage(*base, cwd=site_dir)
    assert table.returncode == 4, table.stdout[-2000:] + table.stderr
    assert "SIMULATED, NOT PROOF OF PLAY" in table.stdout
    assert "verdict: simulated (exit 4)" in table.stdout
    js = signage(*base, "--format", "json", cwd=site_dir)
    assert js.returncode == 4
    doc = json.loads(js.stdout)
    assert doc["verdict"] == "simulated" and doc["exit_code"] == 4
    assert doc["simulated"]["banner"].startswith("SIMULATED") and doc["simulated"]["runs"]
    cs = signage(*base, "--format", "csv", cwd=site_dir)
    assert cs.returncode == 4
    first, rest = cs.stdout.split("\n", 1)
    assert first.startswith("# SIMULATED, NOT PROOF OF PLAY")
    assert next(csv.reader(io.StringIO(rest)))[0] == "screen"
    html = site_dir / "r.html"
    rep = signage(*base, "--report", str(html), cwd=site_dir)
    assert rep.returncode == 4
    page = html.read_text("utf-8")
    assert "id='simulated'" in page and "SIMULATED, NOT PROOF OF PLAY" in page
    assert "class='verdict simulated'" in page
    # a preview on purpose: the figures decide the exit code, the banner stays
    prev = signage(*base, "--simulated", cwd=site_dir)
    assert prev.returncode == 0 and "SIMULATED, NOT PROOF OF PLAY" in prev.stdout


def test_a_simulate_run_inside_a_real_log(tmp_path: Path) -> None:
    c = FakeClock(DAY0, mono=0.0)
    fields = site([("led-1", 64, 16)], hours=["08:00-09:00"])
    for mode, t0 in (("run", H8), ("simulate", H8 + 1200)):
        d = Daemon(tmp_path / "log", c, fields, start=t0 - 5, mode=mode)
        t = t0
        while t < t0 + 600:
            d.showing("led-1", "af1", True, t, t + 8)
            d.showing("led-1", "ad", False, t + 8, t + 38)
            d.heartbeat(t + 38)
            t += 38
        d.stop(t + 1)
    code, out, err = audit(tmp_path / "log", tmp=tmp_path)
    assert code == 4, out + err
    assert "1 of the 2 runs in this log were" in " ".join(out.split())
    assert "verdict: simulated (exit 4)" in out
