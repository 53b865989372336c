"""Review of log format 2 (issue 12): claims the audit must not credit.

- a checkpoint signed by another site's key (registered in the same trust file, as in a
  bureau's file of many shops) cannot vouch for this site's log;
- records after the last checkpoint (the unsigned tail) can be chained by anyone (plain
  SHA-256): they are reported, never credited.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from signage.keys import SigningKey
from signage.playlog.writer import LogWriter

from .logkit import DAY0, TZ, Daemon, FakeClock, audit, site

A = SigningKey.generate()
B = SigningKey.generate()


def _trust(path: Path, entries: list[tuple[str, SigningKey]]) -> Path:
    out = ["version = 1"]
    for sid, k in entries:
        out += ["", "[[site]]", f'id = "{sid}"', "  [[site.key]]", f'  public = "{k.public.text}"',
                "  valid_from = 2020-01-01T00:00:00+08:00"]
    path.write_text("\n".join(out) + "\n", "utf-8")
    return path


def _audit(d: Path, tf: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out, err = audit(d, "--trust", tf, "--format", "json", *extra, key=None)
    assert out.strip(), (code, err)
    return code, json.loads(out)


def test_a_checkpoint_of_another_site_does_not_vouch_for_this_log(tmp_path: Path) -> None:
    """run_start names shop-7; every checkpoint is for shop-8, signed by shop-8's real key."""
    d = tmp_path / "log"
    clock = FakeClock(DAY0 + 8 * 3600)
    w = LogWriter(d, None, ZoneInfo(TZ), clock, run_id=secrets.token_hex(6), boot_id="boot-a",
                  fsync="batch", batch_ms=10**9, signing=B, site_id="shop-8")
    w.open()
    w.append("run_start", version="0.1.0", mode="run", **site())
    dm = Daemon.__new__(Daemon)
    dm.w, dm.clock = w, clock
    t = clock.mono
    for _ in range(15):
        dm.showing("s1", "af1", True, t, t + 10)
        t += 40
        dm.heartbeat(t)
    dm.stop(t)
    tf = _trust(tmp_path / "trust.toml", [("shop-7", A), ("shop-8", B)])
    code, doc = _audit(d, tf)
    assert code == 2 and doc["verdict"] == "integrity_broken", doc["integrity"]["findings"]
    msgs = [f["message"] for f in doc["integrity"]["findings"] if f["kind"] == "signature"]
    assert msgs and "shop-8" in msgs[0] and "shop-7" in msgs[0], msgs
    assert doc["integrity"]["signatures"]["last_signed"] is None
