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
