"""`signage simulate` honours a simulator screen's fault options: drills work on the virtual
clock too (issue 10 item 16)."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def simulate(cfg: Path, log: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "signage.cli", "simulate", "--config",
                           str(cfg), "--start", "2026-12-01 10:00", "--for", "10m", "--log",
                           str(log)], cwd=cfg.parent, capture_output=True, text=True,
                          timeout=180, check=False)


def records(log: Path) -> list[dict[str, object]]:
    out = []
    for f in sorted(log.glob("signage-*.jsonl*")):
        data = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
        out += [json.loads(line) for line in data.splitlines() if line.strip()]
    return out


def test_fail_every_af_on_the_virtual_clock(make_small_site: Callable[..., Path]) -> None:
    cfg = make_small_site(extra=", fail_every_af = 3")
    res = simulate(cfg, cfg.parent / "simlog")
    assert res.returncode == 0, res.stderr
    recs = records(cfg.parent / "simlog")
    rejected = [r for r in recs if r["type"] in ("driver_error", "show_failed")]
    shown_af = [r for r in recs if r["type"] == "showing" and r.get("anti_fraud")]
    assert rejected and shown_af, {r["type"] for r in recs}
    assert any("fail_every_af" in json.dumps(r, ensure_ascii=False) for r in rejected)
    # every third anti-fraud item is rejected, and the gap guard substitutes
    assert len(rejected) >= len(shown_af) // 3 - 2


def test_latency_on_the_virtual_clock(make_small_site: Callable[..., Path]) -> None:
    cfg = make_small_site(extra=", latency_ms = 200")
    res = simulate(cfg, cfg.parent / "simlog")
    assert res.returncode == 0, res.stderr
    p99 = float(re.search(r"start error p99 ([0-9.]+) ms", res.stderr).group(1))  # type: ignore[union-attr]
    assert p99 >= 150.0, res.stderr
    base = make_small_site()
    res = simulate(base, base.parent / "simlog2")
    p99 = float(re.search(r"start error p99 ([0-9.]+) ms", res.stderr).group(1))  # type: ignore[union-attr]
    assert p99 < 50.0, res.stderr
