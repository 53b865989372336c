"""`signage run` without a terminal prints each switch and each closed screen with its opening
time, and the shipped sample has a screen open 24 hours: something visibly works at any hour
(issue 10 item 19)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from signage.config import load_config


def test_sample_has_a_24_hour_screen(site_dir: Path) -> None:
    cfg = load_config(site_dir / "config.toml")
    always = [s for s in cfg.screens if s.hours is not None
              and s.hours.default == ["00:00-24:00"] and not s.hours.exceptions]
    assert always, "the sample needs a screen open 24 hours"


def test_plain_output_at_night(site_dir: Path) -> None:
    """The site is open 08:00-22:00; at any hour the run shows lines (a piped stdout)."""
    p = subprocess.run([sys.executable, "-m", "signage.cli", "run", "--config",
                        str(site_dir / "config.toml"), "--for", "4s"], cwd=site_dir,
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    # the 24-hour screen switches whatever the hour
    assert any(re.match(r"\d\d:\d\d:\d\d selfservice-hdmi: ", ln) for ln in lines), p.stdout
    # every other screen is either switching or says when it opens
    for sid in ("entrance-led", "checkout-hdmi", "fresh-hdmi"):
        mine = [ln for ln in lines if f" {sid}: " in ln]
        assert mine, (sid, p.stdout)
        assert all(re.search(r"closed \(opening hours\), blank until \d{4}-\d\d-\d\d \d\d:\d\d",
                             ln) or "★" in ln or ": promo" in ln for ln in mine), mine


def test_the_shipped_config_runs_a_signed_log(site_dir: Path) -> None:
    """`scripts/run` is `signage run` on the shipped config: a new installation writes log
    format 2, makes its signing key (mode 0600) and prints the public key to register; the
    log verifies with that public key alone (the chain and every checkpoint)."""
    from tests.logtools import records

    p = subprocess.run([sys.executable, "-m", "signage.cli", "run", "--config",
                        str(site_dir / "config.toml"), "--for", "3s"], cwd=site_dir,
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    key = site_dir / "var" / "signing.key"
    assert key.stat().st_mode & 0o777 == 0o600 and not (site_dir / "var" / "site.key").exists()
    assert "register its public key: ed25519:" in p.stdout + p.stderr
    recs = records(site_dir / "var" / "log", signing_key=key)
    assert {r["v"] for r in recs} == {2} and recs[0]["mode"] == "run"
    assert [r["type"] for r in recs[-2:]] == ["run_stop", "checkpoint"]
