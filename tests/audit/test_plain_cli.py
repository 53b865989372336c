"""A plain `signage audit` command line runs without typer (signage.audit.command, issue 12: the
month's audit counts its start-up); any other line is typer's. Both must give the same output,
messages and exit code: each line below runs as a real process both ways (the typer way forced
by ``--`` before the log, which only typer reads) and the two are compared byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from signage.audit.command import plain_audit_args
from signage.keys import SigningKey

from .logkit import DAY0, Daemon, FakeClock, site, trust_file

P = Path

# Runs `signage ARGS` in-process and writes the modules it loaded (a superset) at exit.
LAUNCHER = """
import atexit, json, runpy, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["signage", *sys.argv[2:]]
runpy.run_module("signage.cli", run_name="__main__")
"""


@pytest.mark.parametrize(("args", "want"), [
    (["audit", "log"], ([P("log")], {})),
    (["audit", "a", "--trust", "t.toml", "b", "--format=json", "--anchor"],
     ([P("a"), P("b")], {"trust": P("t.toml"), "format_": "json", "anchor": True})),
    (["audit", "--screen", "s1", "--screen=s2", "--witness", "w1", "--witness", "w2", "x"],
     ([P("x")], {"screen": ["s1", "s2"], "witness": [P("w1"), P("w2")]})),
    (["audit", "--from", "2026-11-01", "--to", "today", "--max-gap", "60s", "--key", "k",
      "--report", "r.html", "--expect-anchor", "f:1:ab", "--jobs", "2", "--simulated", "l"],
     ([P("l")], {"from_": "2026-11-01", "to": "today", "max_gap": "60s", "key": P("k"),
                 "report": P("r.html"), "expect_anchor": "f:1:ab", "jobs": "2",
                 "simulated": True})),
    (["audit"], ([], {})),
])
def test_plain_lines(args: list[str], want: tuple[list[Path], dict[str, object]]) -> None:
    assert plain_audit_args(args) == want


@pytest.mark.parametrize("args", [
    ["run"], [], ["audit", "--help"], ["audit", "log", "--bogus"], ["audit", "--", "log"],
    ["audit", "-"], ["audit", "--format"], ["audit", "--format", ""], ["audit", "--format="],
    ["audit", "--max-gap", "-5"], ["audit", "--format", "json", "--format", "csv"],
    ["audit", "--anchor", "--anchor"], ["audit", "--anchor=1"], ["audit", "--no-anchor"],
    ["audit", "--form", "json"], ["audit", "-h"], ["audit", "log", "--lang", "en"],
])
def test_other_lines_go_to_typer(args: list[str]) -> None:
    assert plain_audit_args(args) is None


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real format-2 log of 15 minutes (one gap of 100 s) and its trust file."""
    d = tmp_path_factory.mktemp("plain")
    key = SigningKey.generate()
    clock = FakeClock(DAY0 + 8 * 3600)
    dm = Daemon(d / "log", clock, site(), signing=key)
    t = clock.mono
    for k in range(20):
        dm.showing("s1", "af1", True, t + 40 * k + (100 if k >= 10 else 0),
                   t + 40 * k + 10 + (100 if k >= 10 else 0))
    dm.stop(t + 1000)
    trust_file(d / "trust.toml", "shop-7", key.public)
    (d / "bad-trust.toml").write_text('version = 1\n[[site]]\nid = "x"\nbogus = 1\n', "utf-8")
    return d


def _run(d: Path, args: list[str], lang: str | None = None
         ) -> tuple[int, str, str, set[str]]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SIGNAGE_LANG", "LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE")}
    env.update(LANG="C.UTF-8", COLUMNS="120", NO_COLOR="1")
    pre = ["--lang", lang] if lang else []
    mods = d / "modules.json"
    p = subprocess.run([sys.executable, "-c", LAUNCHER, str(mods), *pre, "audit", *args],
                       cwd=d, env=env, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr, set(json.loads(mods.read_text("utf-8")))


@pytest.mark.parametrize(("args", "code"), [
    (["--trust", "trust.toml", "--format", "json"], 1),
    (["--trust", "trust.toml"], 1),
    (["--trust=trust.toml", "--format", "csv", "--max-gap", "200"], 0),
    (["--trust", "trust.toml", "--anchor"], 0),
    (["--trust", "trust.toml", "--screen", "s1", "--screen", "s9", "--format", "json"], 3),
    (["--trust", "trust.toml", "--format", "xml"], 3),
    (["--trust", "trust.toml", "--jobs", "0"], 3),
    (["--trust", "bad-trust.toml"], 3),
    (["--trust", "nosuch.toml"], 3),
    (["--witness", "trust.toml"], 3),
    ([], 3),  # a format-2 log without --trust
])
def test_plain_and_typer_agree(logs: Path, args: list[str], code: int) -> None:
    for lang in (None, "en"):
        plain = _run(logs, [*args, "log"], lang)
        typed = _run(logs, [*args, "--", "log"], lang)
        assert plain[:3] == typed[:3], (args, lang, plain[:3], typed[:3])
        assert plain[0] == code, (args, plain[1:3])
        assert "typer" not in plain[3] and "typer" in typed[3]


@pytest.mark.parametrize("typer_way", [False, True])
def test_a_reader_that_closes_the_pipe_early_gets_sigpipes_status_not_an_internal_error(
        logs: Path, typer_way: bool) -> None:
    """`signage audit … | head`: the reader is gone before the verdict is written. The audit
    exits 141 (as a process killed by SIGPIPE) and prints no 'internal error' or traceback."""
    env = {k: v for k, v in os.environ.items() if k not in ("SIGNAGE_DEBUG",)}
    args = ["--trust", "trust.toml", "--format", "json", *(["--"] if typer_way else []), "log"]
    p = subprocess.Popen([sys.executable, "-m", "signage.cli", "audit", *args], cwd=logs,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # the reader leaves before anything is written
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141, err
    assert "internal" not in err and "Traceback" not in err and "内部错误" not in err, err
