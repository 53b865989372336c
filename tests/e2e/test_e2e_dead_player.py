"""A player that dies in the middle of a long anti-fraud item: the runner notices within about a
second (health checks between switches), credits the showing only up to the last healthy
check, and the audit reports the outage instead of calling the screen compliant."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.e2etools import Item, children, read_log, signage_run, wait_for, write_site


def test_mpv_killed_mid_item_is_not_credited(tmp_path: Path) -> None:
    cfg = write_site(tmp_path, name="dead", driver="mpv", screen="s1", width=320, height=180,
                     options='{ vo = "null", ao = "null", fullscreen = false }',
                     af=[Item("af-long", "text", text="凡是刷单返利就是诈骗", duration_s=8.0)],
                     store=[Item("st", "text", text="欢迎光临", duration_s=1.0)],
                     max_gap=5, margin=1)
    p = signage_run(cfg, "16s")
    log = tmp_path / "log"
    second = wait_for(log, p, "a second anti-fraud start", lambda rs: [
        r for r in rs if r["type"] == "showing_start" and r["anti_fraud"]][1:], timeout_s=40)[0]
    time.sleep(1.0)
    (mpv,) = [c for c, a in children(p.pid) if a and os.path.basename(a[0]).startswith("mpv")]
    t_kill = time.monotonic()
    os.kill(mpv, signal.SIGKILL)
    p.communicate(timeout=80)
    recs = read_log(log)
    show = next(r for r in recs if r["type"] == "showing"
                and r["start_mono"] == second["start_mono"])
    # credited at most up to the kill plus one health period, never the whole 8 s
    assert show["outcome"] == "cut_short"
    assert show["end_mono"] <= t_kill + 0.05, (show["end_mono"], t_kill)
    downs = [r for r in recs if r["type"] == "screen_down"]
    assert downs and downs[0]["mono"] <= t_kill + 2.0  # noticed within about a second
    audit = subprocess.run([sys.executable, "-m", "signage.cli", "audit", str(log), "--key",
                            str(tmp_path / "site.key"), "--format", "json"],
                           capture_output=True, text=True, check=False)
    report = json.loads(audit.stdout)
    assert any(o["length_s"] > 0 for o in report["outages"])
