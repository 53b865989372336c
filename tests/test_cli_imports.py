"""The CLI's start-up, guarded structurally (issue 12: a month's audit in <= 1.5 s wall *including
start-up*, docs/benchmarks.md): `import signage.cli`, `signage --help` and `signage audit` must not
load the modules their command does not use (the site loader with its playlists, renderer and
media checks; pydantic where no config is read; the signing keys). A time would be missed by a
busy machine; a module list is not. Each case runs as its own process and lists sys.modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.audit.logkit import DAY0, Daemon, FakeClock, site, trust_file

#: the site loader and what only it brings (playlists, renderer and fonts, media checks, pushed
#: playlists, the planner): no command but those that load a site's config.toml needs them
SITE_LOADER = ("signage.load", "signage.playlist", "signage.render", "signage.mediacheck",
               "signage.alerts.pushed", "signage.plan", "PIL")
#: pydantic and the config models, the signing keys (PyNaCl), the audit's machinery, the hub's
#: and the console's parts: none is needed to print the help
NOT_FOR_HELP = (*SITE_LOADER, "pydantic", "pydantic_core", "signage.config", "signage.problems",
                "signage.keys", "nacl", "signage.trust", "signage.audit.run",
                "signage.audit.integrity", "signage.playlog", "signage.hub.config",
                "signage.summary.build", "signage.inspection.check", "signage_drivers.led.driver",
                "jinja2", "starlette", "uvicorn", "paho", "duckdb", "pyarrow")

# Runs the CLI in-process as the program `signage` and, at exit, writes every module it loaded.
LAUNCHER = """
import atexit, json, runpy, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["signage", *sys.argv[2:]]
runpy.run_module("signage.cli", run_name="__main__")
"""


def _loaded(mods: set[str], heavy: tuple[str, ...]) -> list[str]:
    return sorted(m for m in mods for h in heavy if m == h or m.startswith(h + "."))


def _signage(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = tmp_path / "modules.json"
    p = subprocess.run([sys.executable, "-c", LAUNCHER, str(out), *args], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "COLUMNS": "200"})
    return p, set(json.loads(out.read_text("utf-8")))


def test_import_cli_is_light(tmp_path: Path) -> None:
    code = ("import json, sys; import signage.cli; "
            "print(json.dumps(sorted(sys.modules)))")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    mods = set(json.loads(p.stdout))
    assert "signage.cli" in mods and "typer" in mods
    assert _loaded(mods, NOT_FOR_HELP) == []


def test_help_loads_no_command_body(tmp_path: Path) -> None:
    p, mods = _signage(tmp_path, "--help")
    assert p.returncode == 0, p.stderr
    for cmd in ("audit", "keys", "checkpoint", "hub", "console", "report", "alert", "inspect",
                "led", "validate", "new-chain"):
        assert cmd in p.stdout, (cmd, p.stdout)
    # every sub-app was mounted (its module imported), none of their bodies' modules
    assert {"signage.audit.cli", "signage.keys_cli", "signage.hub.cli", "signage.alerts.cli",
            "signage.console.cli", "signage.summary.cli", "signage.inspection.cli"} <= mods
    assert _loaded(mods, NOT_FOR_HELP) == []
    for args in (("keys", "--help"), ("audit", "--help"), ("hub", "--help")):
        p, mods = _signage(tmp_path, *args)
        assert p.returncode == 0 and "--help" in p.stdout, (args, p.stderr)
        # (typer itself imports pydantic to convert the values of the options of a command it
        # runs, here the root's --lang: only the top-level help is printed without it)
        assert _loaded(mods, tuple(h for h in NOT_FOR_HELP if not h.startswith("pydantic"))
                       ) == [], args


def test_audit_loads_no_site_loader(tmp_path: Path) -> None:
    """A real audit of a real format-2 log (signed checkpoints, a trust file): the audit reads
    the log's configuration with the config models (pydantic), never the site loader."""
    from signage.keys import SigningKey

    key = SigningKey.generate()
    log = tmp_path / "log"
    clock = FakeClock(DAY0 + 8 * 3600)
    dm = Daemon(log, clock, site(), signing=key)
    t = clock.mono
    for k in range(20):
        dm.showing("s1", "af1", True, t + 40 * k, t + 40 * k + 10)
    dm.stop(t + 40 * 20)
    tf = trust_file(tmp_path / "trust.toml", "shop-7", key.public)
    p, mods = _signage(tmp_path, "audit", str(log), "--trust", str(tf), "--format", "json")
    doc = json.loads(p.stdout)
    assert doc["integrity"]["intact"], (p.stderr, doc["integrity"])
    assert p.returncode in (0, 1), p.stderr  # (a 13-minute log in a day of opening hours)
    assert {"signage.audit.run", "signage.audit.compliance", "signage.trust"} <= mods
    assert _loaded(mods, SITE_LOADER) == []
    # and a usage error stays a usage error (exit 3), before any of it is loaded
    p, mods = _signage(tmp_path, "audit", str(log), "--format", "xml")
    assert p.returncode == 3 and "--format 'xml'" in p.stderr, p.stderr
    assert _loaded(mods, SITE_LOADER) == []


def test_alert_read_limit_is_the_envelopes() -> None:
    """signage.alerts.cli keeps its own copy of the alert envelope's size limit (so that the
    help does not load the keys): it must stay the envelope module's."""
    from signage.alerts.cli import MAX_READ
    from signage.alerts.envelope import KINDS

    assert MAX_READ == KINDS["cap-alert"]
