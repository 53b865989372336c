"""Console sessions outlive a console restart: a real console process, stopped and started
again, still knows the cookie; the file it keeps them in holds no usable token."""

from __future__ import annotations

import http.cookiejar
import json
import re
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from signage.console import auth

from .conftest import (
    ADMIN,
    ADMIN_PW,
    AF,
    CONFIG,
    STORE,
    _stop,
    _wait,
    child_env,
    free_port,
)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_a: object, **_k: object) -> None:
        return None


class Browser:
    """Cookies and plain HTTP, as a browser would send them (redirects not followed)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                              _NoRedirect())

    def get(self, path: str) -> tuple[int, str, str]:
        try:
            with self.op.open(self.base + path, timeout=20) as r:
                return int(r.status), r.headers.get("Location", ""), r.read().decode()
        except urllib.error.HTTPError as e:
            return int(e.code), e.headers.get("Location", ""), e.read().decode()

    def post(self, path: str, fields: dict[str, str]) -> tuple[int, str]:
        data = urllib.parse.urlencode(fields).encode()
        try:
            with self.op.open(self.base + path, data=data, timeout=20) as r:
                return int(r.status), r.headers.get("Location", "")
        except urllib.error.HTTPError as e:
            return int(e.code), e.headers.get("Location", "")

    def login(self, user: str, password: str) -> None:
        _st, _loc, html = self.get("/login")
        m = re.search(r'name="csrf" value="([^"]+)"', html)
        assert m, html
        assert self.post("/login", {"user": user, "password": password,
                                    "csrf": m.group(1)}) == (303, "/")

    def cookie(self) -> str:
        return next(c.value for c in self.jar if c.name == "signage_session")


class Console:
    def __init__(self, cfg: Path, port: int, out: Path) -> None:
        self.cfg, self.port, self.out = cfg, port, out
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "signage.cli", "console",
                                      "--config", str(self.cfg)], cwd=self.cfg.parent,
                                     env=child_env(), stdout=self.out.open("ab"),
                                     stderr=subprocess.STDOUT)

        def up() -> bool:
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{self.port}/login", timeout=2) as r:
                    return bool(r.status == 200)
            except OSError:
                return False
        _wait(up, 60, "the console")

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[Console, Path]]:
    port = free_port()
    (tmp_path / "playlists").mkdir()
    (tmp_path / "media").mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG.format(port=port), "utf-8")
    (tmp_path / "playlists" / "af.toml").write_text(AF, "utf-8")
    (tmp_path / "playlists" / "store.toml").write_text(STORE, "utf-8")
    for name, role in ((ADMIN, "admin"), ("other", "inspector")):
        subprocess.run([sys.executable, "-m", "signage.cli", "console", "adduser", name,
                        "--role", role, "--config", str(cfg), "--password-stdin"],
                       input=ADMIN_PW + "\n", text=True, check=True, env=child_env(),
                       timeout=60)
    c = Console(cfg, port, tmp_path / "console.out")
    c.start()
    try:
        yield c, tmp_path
    finally:
        c.stop()


def test_a_session_survives_a_console_restart(console: tuple[Console, Path]) -> None:
    con, d = console
    base = f"http://127.0.0.1:{con.port}"
    boss, other = Browser(base), Browser(base)
    boss.login(ADMIN, ADMIN_PW)
    other.login("other", ADMIN_PW)
    assert boss.get("/")[0] == 200
    path = next(d.rglob("sessions.json"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text("utf-8")
    for b in (boss, other):  # only the SHA-256 of each token is kept
        assert b.cookie() not in text and auth.token_id(b.cookie()) in text
    con.stop()
    con.start()  # a new process: it knows the sessions from the file only
    status, _loc, html = boss.get("/")
    assert status == 200 and "总览" in html, html[:300]
    # the account is removed while the console is down: its session ends with it
    con.stop()
    subprocess.run([sys.executable, "-m", "signage.cli", "console", "deluser", "other",
                    "--config", str(con.cfg)], check=True, env=child_env(), timeout=60)
    con.start()
    assert other.get("/")[:2] == (303, "/login")
    # logging out ends it for good, across a restart too
    m = re.search(r'name="csrf" value="([^"]+)"', boss.get("/")[2])
    assert m
    assert boss.post("/logout", {"csrf": m.group(1)})[0] == 303
    con.stop()
    con.start()
    assert boss.get("/")[:2] == (303, "/login")
    assert json.loads(path.read_text("utf-8"))["sessions"] == {}


def test_sessions_file_is_bounded_and_checked(tmp_path: Path) -> None:
    p = tmp_path / "sessions.json"
    s = auth.Sessions(p)
    toks = [s.create("boss", "admin", now=1000.0 + i)[0] for i in range(auth.MAX_SESSIONS + 5)]
    again = auth.Sessions(p, clock=lambda: 2000.0)
    assert len(again.sessions) == auth.MAX_SESSIONS
    assert again.get(toks[0], now=2000.0) is None  # the oldest went first
    assert again.get(toks[-1], now=2000.0) is not None
    assert again.get(toks[-1], now=1000.0 + auth.MAX_SESSIONS + 5 + auth.SESSION_S) is None
    # a garbled file, a bad entry or an unknown role logs those people out, nothing else
    doc = json.loads(p.read_text("utf-8"))
    keys = list(doc["sessions"])
    assert len(keys) == auth.MAX_SESSIONS - 1  # the expired one get() met was dropped
    doc["sessions"][keys[0]]["role"] = "root"
    doc["sessions"][keys[1]] = "x"
    doc["sessions"]["not-a-digest"] = doc["sessions"][keys[2]]
    p.write_text(json.dumps(doc), "utf-8")
    assert len(auth.Sessions(p, clock=lambda: 2000.0).sessions) == len(keys) - 2
    assert auth.Sessions(p, clock=lambda: 1e10).sessions == {}  # all expired
    p.write_text("{not json", "utf-8")
    assert auth.Sessions(p, clock=lambda: 2000.0).sessions == {}
