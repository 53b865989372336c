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


def trust_from_keys_show(site_dir: Path, key: Path, site_id: str) -> Path:
    """The inspector's trust file, made from what `signage keys show` prints."""
    shown = signage("keys", "show", "--key", str(key), cwd=site_dir)
    assert shown.returncode == 0, shown.stderr
    public = next(w for w in shown.stdout.split() if w.startswith("ed25519:"))
    path = site_dir / "keys.toml"
    path.write_text(f'version = 1\n[[site]]\nid = "{site_id}"\n  [[site.key]]\n  public = '
                    f'"{public}"\n  valid_from = 2020-01-01T00:00:00+08:00\n', "utf-8")
    return path


def test_simulated_week_audits_clean_and_a_stricter_limit_finds_violations(site_dir: Path
                                                                           ) -> None:
    log = site_dir / "simlog"
    res = signage("simulate", "--config", str(site_dir / "config.toml"), "--start",
                  "2026-12-01", "--for", "2d", "--log", str(log), cwd=site_dir)
    assert res.returncode == 0, res.stderr
    # the shipped config writes format 2: audited the README's way, with the public key only
    # (`signage keys show` -> a trust file), no secret
    trust = str(trust_from_keys_show(site_dir, log / "simulate-signing.key", "hz-wensan-0001"))
    # a simulated log is never proof (exit 4); --simulated previews its figures
    ok = signage("audit", str(log), "--trust", trust, "--format", "json", "--simulated",
                 cwd=site_dir)
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr
    report = json.loads(ok.stdout)
    assert report["verdict"] == "compliant"
    assert report["simulated"]["banner"].startswith("SIMULATED")
    assert report["integrity"]["format_versions"] == [2]
    assert report["integrity"]["signatures"]["unsigned_tail"]["records"] == 0
    strict = signage("audit", str(log), "--trust", trust, "--max-gap", "30", "--format", "json",
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
