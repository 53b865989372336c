"""Security: the HMAC key file, no shell anywhere, slogans cannot inject into the LED protocol
or the terminal, media paths cannot leave the media root.

The mpv IPC socket directory (0700) is covered by
tests/mpv/test_mpv_show.py::test_socket_mode_uses_a_private_directory; it is only referenced
here (test_the_mpv_socket_directory_test_is_still_there), not duplicated."""

from __future__ import annotations

import ast
import io
import json
import os
import pty
import select
import stat
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from signage.cli import app
from signage.driver import DriverContext, ItemKind, ScreenSpec, Showable
from signage import secretfile
from signage.playlog import keyfile
from signage.runtime.clock import RealClock
from signage.runtime.showables import Showables

from .helpers import CHILD_ENV, PY, ROOT, audit_api, report, signage_run


# ---- the key file ----------------------------------------------------------------------------
def test_key_files_are_created_0600(site: Callable[..., Path]) -> None:
    cfg = site()
    base = cfg.parent
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=base)
    assert r.returncode == 0, r.stderr
    r = signage_run("simulate", "--config", str(cfg), "--for", "10m", "--log", "simlog", cwd=base)
    assert r.returncode == 0, r.stderr
    for key in (base / "site.key", base / "simlog" / "simulate.key"):
        mode = stat.S_IMODE(key.stat().st_mode)
        assert mode == 0o600, f"{key.name}: mode {mode:o}"
        assert len(key.read_bytes().strip()) == 64


REFUSED: list[str] = []


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o620, 0o602])
def test_a_key_that_group_or_others_can_access_is_refused(site: Callable[..., Path],
                                                          mode: int) -> None:
    cfg = site()
    base = cfg.parent
    key = base / "site.key"
    key.write_bytes(b"ab" * 32 + b"\n")
    key.chmod(mode)
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=base)
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    assert "accessible by group or others" in r.stderr and f"chmod 600 {key}" in r.stderr, r.stderr
    assert not (base / "log").exists() or not any((base / "log").iterdir()), \
        "nothing may be logged with a key others can read"
    assert stat.S_IMODE(key.stat().st_mode) == mode, "the daemon must not change the mode itself"
    # the audit refuses it the same way
    (base / "log").mkdir(exist_ok=True)
    (base / "log" / "signage-2026-11-28.jsonl").write_bytes(b"")
    res = audit_api([base / "log"], key)
    assert res.code == 3 and "accessible by group or others" in res.err, res.err
    REFUSED.append(f"{mode:o}")
    report("security: key file", refused_modes=",".join(REFUSED))


def test_an_interrupted_key_creation_does_not_lock_the_daemon_out(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    """The first start is killed (or loses power) between creating the key file and writing
    it: the next start must work (a key is written whole or not at all), not refuse forever
    with "not a signage key"."""
    key = tmp_path / "var" / "site.key"

    def killed(_fd: int, _data: bytes) -> int:
        raise KeyboardInterrupt  # stands for SIGKILL / power loss at this instant

    monkeypatch.setattr(secretfile.os, "write", killed)  # (where key files are written)
    with pytest.raises(KeyboardInterrupt):
        keyfile.create_or_load_key(key)
    monkeypatch.undo()
    try:
        got = keyfile.create_or_load_key(key)
    except keyfile.KeyFileError as exc:
        pytest.fail(f"after an interrupted first start the daemon cannot start again: {exc} "
                    f"(the key file holds {key.read_bytes()!r})")
    assert len(got) == 64


# ---- no shell ----------------------------------------------------------------------------------
SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"),
               ("subprocess", "getstatusoutput"), ("os", "popen2"), ("commands", "getoutput")}


def _shell_uses(path: Path) -> list[str]:
    src = path.read_text("utf-8")
    tree = ast.parse(src, str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant)
                                              and kw.value.value is False):
                    found.append(f"{path}:{node.lineno}: shell={ast.unparse(kw.value)}")
            f = node.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and \
                    (f.value.id, f.attr) in SHELL_CALLS:
                found.append(f"{path}:{node.lineno}: {f.value.id}.{f.attr}()")
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "subprocess"):
            for a in node.names:
                if (node.module, a.name) in SHELL_CALLS:
                    found.append(f"{path}:{node.lineno}: from {node.module} import {a.name}")
    for needle in ("shell=True", "os.system", "os.popen"):
        for i, line in enumerate(src.splitlines(), 1):
            if needle in line and not line.lstrip().startswith("#"):
                found.append(f"{path}:{i}: {needle}")
    return found


def test_no_subprocess_runs_with_a_shell() -> None:
    files = sorted([*(ROOT / "signage").rglob("*.py"), *(ROOT / "drivers").rglob("*.py")])
    assert len(files) > 40
    found = [f for p in files for f in _shell_uses(p)]
    report("security: no shell", files_scanned=len(files), shell_uses=len(found))
    assert not found, found


def test_the_shell_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    p = tmp_path / "bad.py"
    p.write_text("import os, subprocess\nfrom os import system\nsubprocess.run('ls', shell=True)\n"
                 "os.system('ls')\nos.popen('ls')\nsubprocess.getoutput('ls')\n"
                 "subprocess.run(['ls'], shell=False)\n")
    found = _shell_uses(p)
    assert any("shell=True" in f for f in found) and any("os.system" in f for f in found)
    assert any("os.popen" in f for f in found) and any("getoutput" in f for f in found)
    assert any("import system" in f for f in found)
    assert not any("shell=False" in f for f in found)


def test_the_mpv_socket_directory_test_is_still_there() -> None:
    """The 0700 socket directory is tested with the mpv driver; keep that test alive."""
    src = (ROOT / "tests" / "mpv" / "test_mpv_show.py").read_text("utf-8")
    assert "def test_socket_mode_uses_a_private_directory" in src
    assert "0o700" in src


# ---- the LED protocol ------------------------------------------------------------------------
CJK = "防范电信网络诈骗凡是刷单返利就是不听不信不转账公检法安全账户冒充客服退款验证码贷款保证金" \
      "投资理财杀猪盘网恋游戏交易国家反诈中心下载注册警惕陌生来电短信链接二维码"
ASCII = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!?.,:;-+()%"
LED_STATS = {"frames": 0, "frames_with_a5_5a_in_payload": 0, "payload_a5_5a_bytes": 0}


@pytest.fixture(scope="module")
def led_driver(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from signage_drivers.led.driver import LedDriver

    tmp = tmp_path_factory.mktemp("led")
    spec = ScreenSpec("door", 128, 16, {"port": "/dev/null", "colors": 1}, tmp)
    assert LedDriver.check_options(spec) == []
    ctx = DriverContext(clock=RealClock(), run_dir=tmp, heavy=threading.Lock())
    return LedDriver(spec, ctx)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=st.text(alphabet=CJK + ASCII + " ", min_size=1, max_size=40).filter(str.strip),
       scroll=st.booleans())
def test_no_slogan_can_put_a_frame_marker_on_the_wire(led_driver, text: str,  # type: ignore[no-untyped-def]
                                                      scroll: bool) -> None:
    from signage_drivers.led.codec import PREAMBLE, FrameDecoder, Packet, unescape

    item = Showable("x", ItemKind.TEXT, 8.0, True, text * (4 if scroll else 1))
    frame = led_driver.frame_for(item)
    assert frame.startswith(PREAMBLE) and frame[-1] == 0x5A
    body = frame[len(PREAMBLE):-1]
    assert 0xA5 not in body and 0x5A not in body, "a frame marker inside the frame"
    raw = unescape(body)
    LED_STATS["frames"] += 1
    n = raw.count(0xA5) + raw.count(0x5A)
    LED_STATS["payload_a5_5a_bytes"] += n
    LED_STATS["frames_with_a5_5a_in_payload"] += n > 0
    got = list(FrameDecoder().feed(frame))
    assert len(got) == 1 and isinstance(got[0], Packet), got
    report("security: LED escaping", **LED_STATS)


def test_the_led_escaping_was_exercised() -> None:
    """The property above is only meaningful if slogans' bitmaps do contain A5/5A bytes."""
    assert LED_STATS["frames"] >= 100
    assert LED_STATS["frames_with_a5_5a_in_payload"] >= 10, LED_STATS


LED_CONFIG_SCREEN = """
[[screens]]
id = "door"
driver = "{driver}"
width = 128
height = 16
playlists = ["af", "store"]
options = {options}
"""


@pytest.mark.parametrize("driver,options", [
    ("led", '{ port = "/dev/null" }'),
    ("simulator", '{ kind = "led" }'),
], ids=["led", "simulator-led"])
@pytest.mark.parametrize("slogan", [
    "凡是刷单\\u001b[2J就是诈骗", "\\u001b]0;x\\u0007凡是刷单", "凡是\\u009b31m刷单",
    "凡是\\u202e刷单", "凡是刷单\\u0000"])
def test_a_slogan_with_control_sequences_is_rejected_by_validate(
        site: Callable[..., Path], driver: str, options: str, slogan: str) -> None:
    cfg = site()
    text = cfg.read_text("utf-8")
    cfg.write_text(text + LED_CONFIG_SCREEN.format(driver=driver, options=options), "utf-8")
    af = cfg.parent / "playlists" / "af.toml"
    af.write_text(af.read_text("utf-8").replace("凡是刷单返利就是诈骗0", slogan), "utf-8")
    res = CliRunner().invoke(app, ["validate", "--config", str(cfg), "--days", "1"])
    assert res.exit_code == 1, (res.exit_code, res.stdout, res.stderr)
    assert f"{af}:" in res.stderr and "items[0].text" in res.stderr, res.stderr
    assert "control or format characters" in res.stderr
    assert "\x1b" not in res.stdout + res.stderr and "\x9b" not in res.stdout + res.stderr


# ---- the terminal ------------------------------------------------------------------------------
ESCAPES = "\\u001b[2J\\u001b]0;pwned\\u0007\\u001b[31m"


def _validate(cfg: Path) -> tuple[int, str, BaseException | None]:
    res = CliRunner().invoke(app, ["validate", "--config", str(cfg), "--days", "1"])
    exc = res.exception if not isinstance(res.exception, SystemExit) else None
    return res.exit_code, res.stdout + res.stderr, exc


def test_validate_output_has_no_escape_from_a_playlist_or_site_name(
        site: Callable[..., Path]) -> None:
    cfg = site()
    af = cfg.parent / "playlists" / "af.toml"
    af.write_text(af.read_text("utf-8").replace('name = "反诈"', f'name = "反诈{ESCAPES}"'),
                  "utf-8")
    code, out, exc = _validate(cfg)
    assert exc is None and code == 0, out
    assert "\x1b" not in out and "\x07" not in out
    text = cfg.read_text("utf-8")
    cfg.write_text(text.replace('name = "测试超市"', f'name = "测试超市{ESCAPES}"'), "utf-8")
    code, out, exc = _validate(cfg)
    assert exc is None and code in (0, 1), out
    assert "\x1b" not in out and "\x07" not in out, repr(out)


MARKUP = "[/]"  # rich console markup: a closing tag with nothing to close


def test_validate_shows_a_site_name_with_brackets_literally(site: Callable[..., Path]) -> None:
    cfg = site()
    cfg.write_text(cfg.read_text("utf-8").replace('name = "测试超市"',
                                                  'name = "测试超市[/][red]红"'), "utf-8")
    code, out, exc = _validate(cfg)
    assert exc is None and "internal error" not in out, out
    assert code == 0 and "测试超市[/][red]红" in out, out


def test_plan_shows_a_slogan_with_brackets_literally(site: Callable[..., Path]) -> None:
    cfg = site()
    af = cfg.parent / "playlists" / "af.toml"
    af.write_text(af.read_text("utf-8").replace("诈骗", f"诈骗{MARKUP}"), "utf-8")
    res = CliRunner().invoke(app, ["plan", "--config", str(cfg), "--for", "10s"])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 0 and MARKUP in res.stdout, res.stdout[-400:]


def test_the_live_table_shows_slogans_literally() -> None:
    from rich.console import Console

    from signage.model import Item
    from signage.runtime.live import live_table

    shown = []
    for text in ("凡是刷单[/]就是诈骗", "凡是[bold red]刷单", "凡是\x1b[2J刷单\x1b]0;x\x07"):
        it = Item("af9", "af", ItemKind.TEXT, True, 1.0, 1000, text=text)
        r = SimpleNamespace(on=SimpleNamespace(item=it, start_wall=0.0),
                            screen=SimpleNamespace(id="s1"), up=True, worst_gap_today=0.0,
                            seconds_to_next_af=lambda: 0.0)
        con = Console(file=io.StringIO(), width=160, color_system=None, force_terminal=False)
        try:
            con.print(live_table([r], ZoneInfo("Asia/Shanghai"), "title [/]"))  # type: ignore[list-item]
        except Exception as exc:
            pytest.fail(f"the live table cannot show the slogan {text!r}: {exc!r}")
        out = con.file.getvalue()  # type: ignore[attr-defined]
        assert "\x1b" not in out and "\x07" not in out
        shown.append(out)
    assert "[bold red]" in shown[1], shown[1]


def test_signage_run_in_a_terminal_survives_a_slogan_with_brackets(
        site: Callable[..., Path]) -> None:
    """`signage run` in a terminal draws the live table. A valid slogan that looks like
    console markup must neither stop the daemon nor leave its log without run_stop."""
    cfg = site()
    base = cfg.parent
    for name, word in (("af", "诈骗"), ("store", "促销")):  # whatever is on screen at the end
        pl = base / "playlists" / f"{name}.toml"
        pl.write_text(pl.read_text("utf-8").replace(word, f"{word}{MARKUP}"), "utf-8")
    master, slave = pty.openpty()
    p = subprocess.Popen([PY, "-m", "signage.cli", "run", "--config", str(cfg), "--for", "4s"],
                         cwd=base, stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                         env={**CHILD_ENV, "TERM": "xterm", "COLUMNS": "120"},
                         start_new_session=True)
    os.close(slave)
    screen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                screen += chunk
            elif p.poll() is not None:
                break
        p.wait(timeout=30)
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.stderr is not None
    err = p.stderr.read().decode("utf-8", "replace")
    p.stderr.close()
    recs = [json.loads(ln) for f in sorted((base / "log").glob("*.jsonl"))
            for ln in f.read_bytes().splitlines()]
    report("security: live table in a pty", exit_code=p.returncode,
           last_record=recs[-1]["type"] if recs else None)
    assert p.returncode == 0 and "MarkupError" not in err, err[-600:]
    assert b"MarkupError" not in screen, "the live table's refresh thread died"
    assert recs and recs[-1]["type"] == "run_stop"


def test_the_audit_table_shows_log_text_literally(site: Callable[..., Path]) -> None:
    """The site name and the categories in the log are the site's text: the inspector's
    table shows them as they are (and the audit never stops on them)."""
    cfg = site()
    base = cfg.parent
    cfg.write_text(cfg.read_text("utf-8").replace('name = "测试超市"', 'name = "超市[/][/]"'),
                   "utf-8")
    af = base / "playlists" / "af.toml"
    af.write_text(af.read_text("utf-8").replace("duration_s = 0.5",
                                                'duration_s = 0.5\ncategory = "刷单[/]"', 1),
                  "utf-8")
    r = signage_run("simulate", "--config", str(cfg), "--for", "2m", "--log", "simlog", cwd=base)
    assert r.returncode == 0, r.stderr
    res = audit_api([base / "simlog"], base / "simlog" / "simulate.key", fmt="table")
    assert "internal error" not in res.err, res.err
    assert res.code == 0 and "超市[/][/]" in res.out, res.out[:300]


# ---- media paths -------------------------------------------------------------------------------
def _media_site(make: Callable[..., Path]) -> Path:
    cfg = make()
    base = cfg.parent
    media = base / "media"
    (media / "posters").mkdir()
    Image.new("RGB", (16, 9), (200, 0, 0)).save(media / "posters" / "ok.png")
    outside = base / "secret.png"
    Image.new("RGB", (16, 9), (0, 0, 200)).save(outside)
    (media / "out.png").symlink_to(outside)
    (media / "etc").symlink_to("/etc")
    (media / "loop.png").symlink_to("loop.png")
    (media / "swap.png").symlink_to(media / "posters" / "ok.png")
    return cfg


ESCAPING_PATHS = ["../secret.png", "posters/../../secret.png", "/etc/hostname",
                  str(Path("/tmp").resolve()),  # noqa: S108
                  "out.png", "etc/hostname", "loop.png", "posters/" + "x" * 300 + ".png"]


@pytest.mark.parametrize("path", ESCAPING_PATHS, ids=[
    "dotdot", "nested-dotdot", "absolute", "absolute-dir", "symlink-out", "symlinked-dir-out",
    "symlink-loop", "name-too-long"])
def test_validate_keeps_media_paths_inside_the_root(site: Callable[..., Path], path: str) -> None:
    cfg = _media_site(site)
    af = cfg.parent / "playlists" / "af.toml"
    af.write_text(af.read_text("utf-8").replace(
        'type = "text"\ntext = "凡是刷单返利就是诈骗0"', f'type = "image"\npath = "{path}"', 1),
        "utf-8")
    code, out, exc = _validate(cfg)
    assert exc is None and "internal error" not in out, out
    assert code == 1, out
    line = next((ln for ln in out.splitlines() if ln.startswith(f"{af}:")), "")
    assert "items[0].path" in line, out


def test_the_runtime_resolves_media_inside_the_root_only(site: Callable[..., Path]) -> None:
    """Validated, then changed on disk: a symlink swapped to point outside the root (or into
    a loop) after validation is never handed to a driver, and never stops the runtime."""
    from signage.model import Item

    cfg = _media_site(site)
    media = cfg.parent / "media"
    item = Item("img", "af", ItemKind.IMAGE, True, 1.0, 1000, path="swap.png")
    assert Showables(media)(item).path == (media / "posters" / "ok.png").resolve()
    for target in (cfg.parent / "secret.png", Path("/etc/hostname"), Path("swap.png")):
        (media / "swap.png").unlink()
        (media / "swap.png").symlink_to(target)
        try:
            got = Showables(media)(item)
        except Exception as exc:
            pytest.fail(f"resolving a media path swapped to {target} raised {exc!r}")
        assert got.path is None, f"swapped to {target}: the driver would get {got.path}"

