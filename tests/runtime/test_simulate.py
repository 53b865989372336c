"""`signage simulate`: the same runtime on a virtual clock; a day of the shipped site."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

from tests.logtools import af_gaps, records


def test_a_simulated_day_of_the_shipped_site_keeps_every_gap(site_dir: Path) -> None:
    log = site_dir / "simlog"
    res = subprocess.run([sys.executable, "-m", "signage.cli", "simulate", "--config",
                          str(site_dir / "config.toml"), "--start", "2026-12-01", "--for", "24h",
                          "--log", str(log)], capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stderr
    # the shipped config writes format 2: the chain and every checkpoint's signature hold
    recs = records(log, signing_key=log / "simulate-signing.key")
    assert {r["v"] for r in recs} == {2} and not (log / "simulate.key").exists()
    recs = [r for r in recs if r["type"] != "checkpoint"]
    assert recs[0]["mode"] == "simulate"
    gaps = af_gaps(recs)
    assert set(gaps) == {"entrance-led", "checkout-hdmi", "fresh-hdmi", "selfservice-hdmi"}
    # the self-service corner keeps its own hours: 24 hours a day
    assert len(gaps.pop("selfservice-hdmi")) >= 24 * 3600 // 70
    recs = [r for r in recs if r.get("screen") != "selfservice-hdmi"]
    for screen, g in gaps.items():
        assert len(g) >= 14 * 3600 // 70, screen  # 14 open hours; a showing every 70 s at most
        assert max(g) <= 60.0, (screen, max(g))
    # showings lie inside opening hours (08:00-22:00 on a Tuesday)
    shows = [r for r in recs if r["type"] == "showing"]
    for r in shows:
        start = datetime.fromisoformat(r["start"])
        end = datetime.fromisoformat(r["end"])
        assert start.hour >= 8 and (end.hour < 22 or (end.hour, end.minute, end.second) == (22, 0, 0))
    # every screen opens with anti-fraud content at 08:00 sharp
    firsts = {}
    for r in shows:
        firsts.setdefault(r["screen"], r)
    for r in firsts.values():
        assert r["anti_fraud"] and r["start"].endswith("T08:00:00.000+08:00")
    # heartbeats every 30 s of virtual time, and the midnight rotation sealed the day's file
    assert sum(r["type"] == "heartbeat" for r in recs) >= 2800
    assert [r["type"] for r in recs].count("seal") == 1
    # the screens are staggered: at opening, three different slogans
    assert len({r["item"] for r in firsts.values()}) == 3
    # fairness: the five "五个凡是" slogans (equal weights) play equally often, ±1
    c = Counter(r["item"] for r in shows if r["screen"] == "checkout-hdmi")
    fanshi = [c[k] for k in c if k.startswith("fanshi-")]
    assert len(fanshi) == 5 and max(fanshi) - min(fanshi) <= 2
