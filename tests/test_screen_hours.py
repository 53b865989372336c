"""A screen may keep its own opening hours, replacing the site's [hours] for it; the planner,
the runtime and the audit follow them (issue 10 item 13)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from signage.cli import app
from tests.logtools import trust_for

ATM = '''
[[screens]]
id = "atm-lobby"
label = "24小时自助银行"
driver = "simulator"
width = 1280
height = 720
playlists = ["wugefanshi", "store-promos"]
options = { kind = "hdmi" }
hours = { default = ["00:00-24:00"] }
'''


def signage(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "signage.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=180, check=False)


def test_screen_hours_in_plan_run_and_audit(site_dir: Path) -> None:
    cfg = site_dir / "config.toml"
    cfg.write_text(cfg.read_text("utf-8") + ATM, "utf-8")
    res = CliRunner().invoke(app, ["validate", "--config", str(cfg), "--days", "1"])
    assert res.exit_code == 0, res.output
    # at 23:00 the site is closed; the lobby screen plays
    res = CliRunner().invoke(app, ["plan", "--config", str(cfg), "--from", "2026-12-01 23:00",
                                   "--for", "10m", "--format", "json"])
    plans = {p["screen"]: p for p in json.loads(res.output)}
    assert "2026-12-01T22:58" <= plans["atm-lobby"]["entries"][0]["start"] <= "2026-12-01T23:00"
    assert all(not p["entries"] or p["entries"][0]["start"] >= "2026-12-02T08:00"
               for sid, p in plans.items()
               if sid in ("entrance-led", "checkout-hdmi", "fresh-hdmi"))
    # a real runtime run (virtual clock) over the night, and its audit
    log = site_dir / "simlog"
    sim = signage("simulate", "--config", str(cfg), "--start", "2026-12-01 21:30", "--for",
                  "1h", "--log", str(log), cwd=site_dir)
    assert sim.returncode == 0, sim.stderr
    # the shipped config writes format 2: audited with the public key only
    trust = trust_for(site_dir / "keys.toml", "hz-wensan-0001", log / "simulate-signing.key")
    out = signage("audit", str(log), "--trust", str(trust), "--format", "json",
                  "--simulated", cwd=site_dir)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    doc = json.loads(out.stdout)
    rows = {r["screen"]: r for r in doc["screens"]}
    assert rows["atm-lobby"]["open_s"] >= 3599  # open the whole hour
    assert rows["checkout-hdmi"]["open_s"] == 1800  # the site closes at 22:00
    assert rows["atm-lobby"]["max_gap_s"] <= 60 and rows["atm-lobby"]["violations"] == 0
    assert rows["atm-lobby"]["af_showings"] > rows["checkout-hdmi"]["af_showings"]
