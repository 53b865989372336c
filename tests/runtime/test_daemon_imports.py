"""The daemon's memory budget (≤ 60 MB RSS, docs/benchmarks.md), guarded structurally: a real
`signage run` of the shipped sample site must not load the heavy optional modules whose
features are off. A byte count would be missed by a busy machine; a module list is not."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from signage.runcmd import plain_run_args

ROOT = Path(__file__).resolve().parents[2]

# Loaded only on the paths that need them (the CAP parser when [authority] keys are set,
# [fleet], [inspection], the live table on a terminal) or never in the daemon (audit, hub, console, summary;
# APScheduler's cron module, which brings asyncio and ssl: the rotation uses LocalMidnight;
# cryptography, ~9.6 MiB: the box signs with PyNaCl, docs/keys.md; typer and click: a plain
# `signage run` line is run by signage.runcmd before signage.cli imports typer;
# importlib.metadata, ~1.3 MiB with zipfile, email, csv: the shipped drivers load without
# entry points, and signage/__init__.py answers pydantic's plugin lookup).
HEAVY = ("typer", "click", "defusedxml", "pyexpat", "xml.etree", "apscheduler", "asyncio", "ssl", "rich",
         "segno", "zxingcpp", "paho", "duckdb", "pyarrow", "starlette", "jinja2", "uvicorn",
         "babel", "cryptography", "importlib.metadata", "signage.fleet",
         "signage.inspection.issuer", "signage.hub", "signage.console", "signage.summary",
         "signage.audit.check", "signage.audit.cli")

# Runs the CLI in-process and, at exit, writes every module the run ever loaded: a superset
# of its steady state.
LAUNCHER = """
import atexit, json, runpy, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["signage", *sys.argv[2:]]
runpy.run_module("signage.cli", run_name="__main__")
"""


def test_run_loads_no_heavy_optional_module(tmp_path: Path) -> None:
    for d in ("playlists", "media"):
        shutil.copytree(ROOT / d, tmp_path / d)
    text = (ROOT / "config.toml").read_text("utf-8")
    assert "[fleet]" not in text and "[inspection]" not in text  # features off
    for key in ("default", "sat", "sun"):  # open now, so the screens render and log
        text = text.replace(f'{key} = ["08:00-22:00"]', f'{key} = ["00:00-24:00"]')
        text = text.replace(f'{key} = ["08:00-22:30"]', f'{key} = ["00:00-24:00"]')
    cfg = tmp_path / "config.toml"
    cfg.write_text(text, "utf-8")
    mods_file = tmp_path / "modules.json"
    p = subprocess.run([sys.executable, "-c", LAUNCHER, str(mods_file), "run", "--config",
                        str(cfg), "--for", "4s", "--no-live"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    logs = list((tmp_path / "var" / "log").glob("*.jsonl"))
    assert any(b'"showing_start"' in f.read_bytes() for f in logs)  # it really ran
    mods = set(json.loads(mods_file.read_text("utf-8")))
    assert "signage.runtime.daemon" in mods and "nacl.signing" in mods  # log format 2 signs
    loaded = sorted(m for m in mods for h in HEAVY if m == h or m.startswith(h + "."))
    assert loaded == [], loaded


def test_plain_run_line_is_recognised_and_anything_else_goes_to_typer() -> None:
    cfg = Path("config.toml")
    assert plain_run_args(["run"]) == (cfg, None, True)
    assert plain_run_args(["run", "--config", "a/c.toml", "--for", "30s", "--no-live"]) == (
        Path("a/c.toml"), "30s", False)
    assert plain_run_args(["run", "-c", "x.toml", "--live"]) == (Path("x.toml"), None, True)
    assert plain_run_args(["run", "--config=x.toml", "--for=2m"]) == (Path("x.toml"), "2m", True)
    for other in (["--help"], ["run", "--help"], ["validate"], ["run", "--config"],
                  ["run", "--for", "1m", "--for", "2m"], ["run", "--live", "--no-live"],
                  ["run", "--config", "-x"], ["run", "--config="], ["run", "-cx.toml"],
                  ["run", "--bogus"], ["run", "extra"], ["run", "--", "x"], []):
        assert plain_run_args(other) is None, other


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "signage.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def test_run_help_and_usage_errors_still_come_from_typer(tmp_path: Path) -> None:
    h = _cli("--lang", "en", "run", "--help")
    assert h.returncode == 0 and "--no-live" in h.stdout and "--config" in h.stdout, h
    bad = _cli("--lang", "en", "run", "--bogus")
    assert bad.returncode == 3 and "--bogus" in bad.stderr, bad  # click's usage error, as 3
    missing = _cli("--lang", "en", "run", "--config", str(tmp_path / "none.toml"))
    assert missing.returncode == 1 and "none.toml" in missing.stderr, missing
    dur = _cli("--lang", "en", "run", "--config", str(ROOT / "config.toml"), "--for", "soon")
    assert dur.returncode == 3 and dur.stderr.startswith("--for: "), dur
