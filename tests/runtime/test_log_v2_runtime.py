"""The daemon writing log format 2 (`[log] format = 2`): a simulated day through the real
command, checkpoints often enough, audited with the public key only; a key rotation prepared
by `signage keys rotate` and taken up by the running runtime; a lost key refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from signage.keys import SigningKeyError, load_signing_key
from signage.load import load_site
from signage.playlog.boxkey import box_signing_key, next_path
from signage.playlog.writer import log_files
from signage.runtime.clock import VirtualClock
from signage.runtime.daemon import RunSettings, Runtime
from tests.conftest import small_site

PY = sys.executable


def _v2(cfg: Path) -> Path:
    cfg.write_text(cfg.read_text("utf-8").replace("[log]\n", "[log]\nformat = 2\n", 1), "utf-8")
    return cfg


def _recs(log: Path) -> list[dict[str, object]]:
    return [json.loads(ln) for p in log_files(log) for ln in p.read_bytes().splitlines()]


def _trust(path: Path, site: str, key: Path) -> Path:
    pub = load_signing_key(key).public
    path.write_text(f'version = 1\n[[site]]\nid = "{site}"\n  [[site.key]]\n  public = '
                    f'"{pub.text}"\n  valid_from = 2020-01-01T00:00:00+08:00\n', "utf-8")
    return path


def test_simulated_day_in_format_2(tmp_path: Path) -> None:
    cfg = _v2(small_site(tmp_path, heartbeat=30.0))
    log = tmp_path / "simlog"
    # a day across midnight with hours 00-24: busy; the checkpoint tick covers idle stretches
    res = subprocess.run([PY, "-m", "signage.cli", "simulate", "--config", str(cfg), "--start",
                          "2026-12-01 23:00", "--for", "2h", "--log", str(log)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    recs = _recs(log)
    assert {r["v"] for r in recs} == {2}
    # no record waits more than 30 s (+ the 5 s tick) for a checkpoint that covers it
    pending: float | None = None
    for r in recs:
        mono = float(r["mono"])  # type: ignore[arg-type]
        if r["type"] == "checkpoint":
            if pending is not None:
                assert mono - pending <= 30.0 + 1e-6, r
            pending = None
        elif pending is None:
            pending = mono
    assert pending is None  # the log ends with a checkpoint (after run_stop)
    assert recs[-2]["type"] == "run_stop" and recs[-1]["reason"] == "run_stop"
    seal_at = next(i for i, r in enumerate(recs) if r["type"] == "seal")
    assert recs[seal_at - 1]["type"] == "checkpoint" and recs[seal_at - 1]["reason"] == "seal"
    trust = _trust(tmp_path / "trust.toml", "test-site", log / "simulate-signing.key")
    res = subprocess.run([PY, "-m", "signage.cli", "audit", str(log), "--trust", str(trust),
                          "--format", "json", "--simulated"], capture_output=True, text=True,
                         timeout=120, check=False)
    doc = json.loads(res.stdout)
    assert res.returncode in (0, 1) and doc["integrity"]["intact"], res.stderr
    assert doc["integrity"]["signatures"]["unsigned_tail"]["records"] == 0
    # the inspector's one-line witness of the latest checkpoint
    res = subprocess.run([PY, "-m", "signage.cli", "checkpoint", "--log", str(log), "--key",
                          str(log / "simulate-signing.key"), "--trust", str(trust)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == json.dumps(
        recs[-1], ensure_ascii=False, separators=(",", ":"))


def test_rotation_taken_up_by_the_running_runtime(tmp_path: Path) -> None:
    cfg = _v2(small_site(tmp_path, heartbeat=1.0))
    loaded = load_site(cfg)
    log = tmp_path / "log"
    key = tmp_path / "signing.key"
    clock = VirtualClock(1_796_000_000.0)
    said: list[str] = []
    rt = Runtime(loaded, clock, RunSettings(virtual=True, log_dir=log, signing_key=key,
                                            say=said.append), threading.Event())
    rt.setup()
    assert any("created the signing key" in m for m in said)
    old = load_signing_key(key)
    rt.run_virtual(clock.monotonic() + 60)
    res = subprocess.run([PY, "-m", "signage.cli", "keys", "rotate", "--key", str(key)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    new = load_signing_key(next_path(key))
    rt.take_key_rotation()  # (the reload-check tick does this in `signage run`)
    assert not next_path(key).exists() and load_signing_key(key).key_id == new.key_id
    assert load_signing_key(key.with_name(f"signing.key.retired-{old.key_id}")).key_id == \
        old.key_id
    rt.run_virtual(clock.monotonic() + 60)
    rt.finish()
    cps = [r for r in _recs(log) if r["type"] == "checkpoint"]
    rot = [r for r in cps if r["next_key"]]
    assert len(rot) == 1 and rot[0]["key"] == old.key_id and rot[0]["next_key"] == \
        new.public.text
    after = cps[cps.index(rot[0]) + 1:]
    assert after and all(r["key"] == new.key_id for r in after)
    trust = tmp_path / "trust.toml"
    trust.write_text(f'version = 1\n[[site]]\nid = "test-site"\n  [[site.key]]\n  public = '
                     f'"{old.public.text}"\n  valid_from = 2020-01-01T00:00:00+08:00\n', "utf-8")
    res = subprocess.run([PY, "-m", "signage.cli", "audit", str(log), "--trust", str(trust),
                          "--format", "json", "--simulated"], capture_output=True, text=True,
                         timeout=120, check=False)
    doc = json.loads(res.stdout)
    assert doc["integrity"]["intact"], doc["integrity"]["findings"]
    assert doc["integrity"]["signatures"]["rotations"][0]["verified"] is True


def test_a_lost_key_next_to_a_log_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.mkdir()
    key = tmp_path / "signing.key"
    box_signing_key(key, log, lambda _m: None)  # a first start: made
    (log / "signage-2026-12-01.jsonl").write_bytes(b"{}\n")
    shutil.move(key, tmp_path / "elsewhere.key")
    with pytest.raises(SigningKeyError, match="lost or moved"):
        box_signing_key(key, log, lambda _m: None)
    assert not key.exists()


def test_an_upgrade_from_format_1_makes_its_key_and_chains_on(tmp_path: Path) -> None:
    """A box with a format-1 log whose config is switched to `format = 2` (as the shipped
    config now is) keeps working: the first format-2 start makes the signing key (there is no
    format-2 log it could have signed), starts a new part chained on the format-1 head, and
    the whole log audits with the site key for the old part and the public key for the new."""
    cfg = small_site(tmp_path, heartbeat=30.0)
    log = tmp_path / "simlog"

    def simulate(start: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PY, "-m", "signage.cli", "simulate", "--config", str(cfg),
                               "--start", start, "--for", "10m", "--log", str(log)],
                              capture_output=True, text=True, timeout=120, check=False)

    res = simulate("2026-12-01 09:00")
    assert res.returncode == 0, res.stderr
    assert not (log / "simulate-signing.key").exists()
    _v2(cfg)
    res = simulate("2026-12-01 09:20")
    assert res.returncode == 0, res.stderr
    key = log / "simulate-signing.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert "register its public key" in res.stderr + res.stdout
    files = log_files(log)
    assert [p.name for p in files] == ["signage-2026-12-01.jsonl", "signage-2026-12-01.1.jsonl"]
    v1 = [json.loads(ln) for ln in files[0].read_bytes().splitlines()]
    new = [json.loads(ln) for ln in files[1].read_bytes().splitlines()]
    assert {r["v"] for r in v1} == {1} and {r["v"] for r in new} == {2}
    assert new[0]["seq"] == v1[-1]["seq"] + 1
    trust = _trust(tmp_path / "trust.toml", "test-site", key)
    res = subprocess.run([PY, "-m", "signage.cli", "audit", str(log), "--trust", str(trust),
                          "--key", str(log / "simulate.key"), "--format", "json",
                          "--simulated"], capture_output=True, text=True, timeout=120,
                         check=False)
    doc = json.loads(res.stdout)
    assert doc["integrity"]["format_versions"] == [1, 2]
    assert res.returncode in (0, 1) and doc["integrity"]["intact"], doc["integrity"]["findings"]
    # the key, once it signed, is never made again: lost, the next start is refused
    shutil.move(key, tmp_path / "elsewhere.key")
    res = simulate("2026-12-01 09:40")
    assert res.returncode == 3 and "lost or moved" in res.stderr
    assert not key.exists()
