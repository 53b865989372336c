"""The logs `signage simulate` and `signage run` write audit clean; audited with a smaller
--max-gap, the same log reports the violations."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def signage(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "signage.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=180, check=False)


def test_simulated_week_audits_clean_and_a_stricter_limit_finds_violations(site_dir: Path
                                                                           ) -> None:
    log = site_dir / "simlog"
    res = signage("simulate", "--config", str(site_dir / "config.toml"), "--start",
                  "2026-12-01", "--for", "2d", "--log", str(log), cwd=site_dir)
    assert res.returncode == 0, res.stderr
    key = str(log / "simulate.key")
    # a simulated log is never proof (exit 4); --simulated previews its figures
    ok = signage("audit", str(log), "--key", key, "--format", "json", "--simulated",
                 cwd=site_dir)
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr
    report = json.loads(ok.stdout)
    assert report["verdict"] == "compliant"
    assert report["simulated"]["banner"].startswith("SIMULATED")
    strict = signage("audit", str(log), "--key", key, "--max-gap", "30", "--format", "json",
                     "--simulated", cwd=site_dir)
    assert strict.returncode == 1, strict.stderr
    bad = json.loads(strict.stdout)
    assert bad["verdict"] == "violations"
    assert json.dumps(bad).count("store") > 0  # the cause: store content was playing


def test_real_run_audits_clean(make_small_site: Callable[..., Path]) -> None:
    cfg = make_small_site()
    res = signage("run", "--config", str(cfg), "--for", "6s", cwd=cfg.parent)
    assert res.returncode == 0, res.stderr
    out = signage("audit", str(cfg.parent / "log"), "--key", str(cfg.parent / "site.key"),
                  "--format", "json", cwd=cfg.parent)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr
    strict = signage("audit", str(cfg.parent / "log"), "--key", str(cfg.parent / "site.key"),
                     "--max-gap", "1", cwd=cfg.parent)
    assert strict.returncode == 1
