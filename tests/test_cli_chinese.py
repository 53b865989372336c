"""Real commands under the default locale read in Chinese: no English sentence gets through.

Each command runs as its own process (the installed `signage` program) with no
SIGNAGE_LANG and LANG=C.UTF-8 (the default: Chinese). An "English sentence" is three English
words in a row; the data these commands print (file names, ids, option names, `[OPTIONS]`,
command paths such as `signage hub audit`) is not counted. The same commands with `--lang en`
print the library's English, so the check is about the catalogue, not about hiding text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, copy_site, keep_format_1

ENGLISH = re.compile(r"[A-Za-z]{2,}(?:[ ,]+[A-Za-z]{2,}){2,}")
SIGNAGE = Path(sys.executable).with_name("signage")
_LANG_VARS = ("SIGNAGE_LANG", "LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE")


def _run(*args: str, cwd: Path, lang: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _LANG_VARS}
    env.update(LANG="C.UTF-8", COLUMNS="200", NO_COLOR="1")
    pre = ("--lang", lang) if lang else ()
    return subprocess.run([str(SIGNAGE), *pre, *args], cwd=cwd,
                          env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=120)


#: command paths (`signage hub audit`) are names, not sentences
COMMANDS = ("hub", "audit", "alert", "alerts", "authority-key", "publish", "playlist",
            "publications", "status", "run", "checkpoint", "simulate", "validate", "plan",
            "report", "inspect", "keys", "push", "console", "led", "new-chain", "version")
COMMAND_PATH = re.compile(r"\bsignage(?: (?:" + "|".join(map(re.escape, COMMANDS)) + r")\b)+")


def _english(out: str) -> list[str]:
    return ENGLISH.findall(COMMAND_PATH.sub("", out))


@pytest.fixture(scope="module")
def broken_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A real 20-minute simulated log (format 1), then damaged: one record's seq edited, one
    record deleted, one byte changed."""
    d = tmp_path_factory.mktemp("zh-site")
    keep_format_1(copy_site(d))
    sim = _run("simulate", "--start", "2026-12-01T09:00:00+08:00", "--for", "20m",
               "--log", "log", cwd=d)
    assert sim.returncode == 0, sim.stderr
    f = d / "log" / "signage-2026-12-01.jsonl"
    lines = f.read_text("utf-8").splitlines(keepends=True)
    lines[40] = lines[40].replace('"seq":40', '"seq":41', 1)
    del lines[80]
    lines[120] = lines[120][:30] + "X" + lines[120][31:]
    f.write_text("".join(lines), "utf-8")
    return d, d / "log" / "simulate.key"


def test_audit_of_a_broken_log_is_chinese(broken_log: tuple[Path, Path]) -> None:
    d, key = broken_log
    zh = _run("audit", "log", "--key", str(key), cwd=d)
    assert zh.returncode == 2, zh.stdout + zh.stderr
    out = zh.stdout + zh.stderr
    assert "摘要核验不通过：这条记录被修改过" in out, out
    assert "signage-2026-12-01.jsonl:41（序号 41）: 序号跳号" in out, out
    assert _english(out) == [], out
    en = _run("audit", "log", "--key", str(key), cwd=d, lang="en")
    assert "the digest does not verify: the record was edited" in en.stdout, en.stdout
    # a bad trust file is named with its field, the message in Chinese
    (d / "trust.toml").write_text('version = 1\n[[site]]\nid = "x"\nbogus = 1\n', "utf-8")
    bad = _run("audit", "log", "--key", str(key), "--trust", "trust.toml", cwd=d)
    assert bad.returncode == 3, bad.stderr
    assert "trust.toml: site #1: 未知字段 'bogus'；允许的字段：id, key, name, profile" in \
        bad.stderr, bad.stderr


def test_help_is_chinese(tmp_path: Path) -> None:
    for args in (("--help",), ("audit", "--help"), ("hub", "--help"),
                 ("hub", "audit", "--help"), ("keys", "--help"), ("keys", "show", "--help")):
        zh = _run(*args, cwd=tmp_path)
        assert zh.returncode == 0, zh.stderr
        assert "用法：signage" in zh.stdout and "显示本帮助并退出。" in zh.stdout, zh.stdout
        assert _english(zh.stdout + zh.stderr) == [], (args, zh.stdout)
    en = _run("--help", cwd=tmp_path, lang="en")
    assert "Usage: signage" in en.stdout and "Show this message and exit." in en.stdout


#: every command's --help, in one process: the walk finds commands added later too
_WALK = """
import json, sys
sys.argv = ["signage"]  # as the program: --lang/LANG applied, typer's texts installed
import typer
from typer.testing import CliRunner
from signage import cli
cli.mount_optional([])
out = {}
def walk(cmd, path):
    r = CliRunner().invoke(cli.app, [*path, "--help"], prog_name="signage",
                           env={"COLUMNS": "300", "NO_COLOR": "1"})
    out[" ".join(path)] = [r.exit_code, r.output]
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        walk(sub, [*path, name])
walk(typer.main.get_command(cli.app), [])
print(json.dumps(out, ensure_ascii=False))
"""


def test_every_commands_help_is_chinese(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _LANG_VARS}
    r = subprocess.run([sys.executable, "-c", _WALK], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300, env={**env, "LANG": "C.UTF-8"})
    assert r.returncode == 0, r.stderr
    helps: dict[str, list[Any]] = json.loads(r.stdout)
    assert {"", "audit", "hub audit", "keys rotate", "alert seal", "console adduser",
            "led probe"} <= set(helps), sorted(helps)
    names = {w for path in helps for w in path.split()}
    paths = re.compile(r"\bsignage(?: (?:" + "|".join(map(re.escape, sorted(names))) + r")\b)*")
    bad = {}
    for path, (code, out) in helps.items():
        assert code == 0 and "用法：signage" in out, (path, out)
        if found := ENGLISH.findall(paths.sub("", out)):
            bad[path] = found
    assert not bad, bad


@pytest.mark.parametrize(("args", "want", "english"), [
    (("nosuch",), "没有命令 'nosuch'。", "No such command 'nosuch'."),
    (("validate", "--bogus"), "没有这个选项：--bogus", "No such option: --bogus"),
    (("plan", "one", "two"), "多出了无法识别的参数（one two）",
     "Got unexpected extra argument(s) (one two)"),
    (("hub", "audit"), "缺少选项 '--from'。", "Missing option '--from'."),
    (("audit", "--key"), "选项 '--key' 需要一个值。", "Option '--key' requires an argument."),
])
def test_usage_errors_are_chinese(tmp_path: Path, args: tuple[str, ...], want: str,
                                  english: str) -> None:
    zh = _run(*args, cwd=tmp_path)
    assert zh.returncode == 3, zh.stdout + zh.stderr  # usage errors exit 3 (cli.main)
    assert want in zh.stderr, zh.stderr
    assert _english(zh.stdout + zh.stderr) == [], zh.stderr
    en = _run(*args, cwd=tmp_path, lang="en")
    assert en.returncode == 3 and english in en.stderr, en.stderr  # the library's own


def test_hub_commands_are_chinese(tmp_path: Path) -> None:
    (tmp_path / "hub.toml").write_text(
        'data_dir = "hub-data"\n[http]\nenabled = false\n[[site]]\nid = "a-1"\n'
        'regions = ["330106"]\n', "utf-8")
    (tmp_path / "bad.toml").write_text(
        'data_dir = "hub-data"\n[http]\nenabled = false\n[[site]]\nid = "a-1"\n'
        'regions = ["12"]\n', "utf-8")
    runs = {
        "status": _run("hub", "status", "-c", "hub.toml", cwd=tmp_path),
        "bad region": _run("hub", "status", "-c", "bad.toml", cwd=tmp_path),
        "period": _run("hub", "audit", "-c", "hub.toml", "--from", "2026-12-02", "--to",
                       "2026-12-01", cwd=tmp_path),
        "audit": _run("hub", "audit", "-c", "hub.toml", "--from", "2026-12-01", "--to",
                      "2026-12-01", cwd=tmp_path),
        "publish": _run("hub", "publish", "playlist", "-c", "hub.toml",
                        str(ROOT / "playlists" / "campaign-2027-spring.toml"), "--to", "a-1",
                        cwd=tmp_path),
    }
    for name, r in runs.items():
        assert _english(r.stdout + r.stderr) == [], (name, r.stdout, r.stderr)
    assert "设备群状态（0 个场所）" in runs["status"].stdout
    assert "bad.toml:6: site[0].regions: 区域 '12'：应为 6 位行政区划代码" in \
        runs["bad region"].stderr
    assert "--to 早于 --from" in runs["period"].stderr
    assert "汇总审计 2026-12-01 – 2026-12-01" in runs["audit"].stdout
    assert "没有设置 authority_key：汇总服务器无法签名" in runs["publish"].stderr


PUSHED = """name = "集中宣传阶段"
content = "anti-fraud"
window = {{ start = {start}, end = {end} }}

[[items]]
id = "push-slogan"
type = "text"
text = "凡是要求屏幕共享的都是诈骗"
duration_s = 1.0
"""


def test_push_verdicts_are_chinese(tmp_path: Path) -> None:
    """A running daemon (default locale) refuses a bundle for another region and a replayed
    one; `signage push add` shows its verdicts in Chinese. The refusal codes (other_region,
    replay) stay as logged and documented (docs/log-format.md)."""
    from datetime import date, timedelta

    from signage.keys import load_signing_key
    from tests.alerts.alertsite import alert_site
    from tests.alerts.test_alerts_run import log_recs, wait_for

    assert _run("alert", "authority-key", "auth.key", cwd=tmp_path).returncode == 0
    cfg = alert_site(tmp_path, load_signing_key(tmp_path / "auth.key"))
    today = date.today()
    (tmp_path / "campaign.toml").write_text(
        PUSHED.format(start=today - timedelta(days=1), end=today + timedelta(days=7)), "utf-8")
    for out, region in (("ours", "330000"), ("theirs", "320000")):
        r = _run("push", "seal", "campaign.toml", "--key", "auth.key", "--id", "campaign",
                 "--to", f"region:{region}", "-o", out, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    env = {k: v for k, v in os.environ.items() if k not in _LANG_VARS}
    daemon = subprocess.Popen([str(SIGNAGE), "run", "--config", str(cfg), "--for", "60s"],
                              cwd=tmp_path, env={**env, "LANG": "C.UTF-8",
                                                 "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: any(x["type"] == "showing" for x in log_recs(tmp_path)), 30, "start")
        other = _run("push", "add", "theirs", cwd=tmp_path)
        ok = _run("push", "add", "ours", cwd=tmp_path)
        again = _run("push", "add", "ours", cwd=tmp_path)
    finally:
        daemon.terminate()
        daemon.communicate(timeout=30)
    assert other.returncode == 1, other.stdout + other.stderr
    assert "节目包 campaign 被拒绝（不是发给本场所或本区域的）" in other.stderr, other.stderr
    assert "节目包 campaign 的发送对象是 ['region:320000']；本设备是场所" in other.stderr, \
        other.stderr
    assert ok.returncode == 0 and "节目包 campaign 已接受" in ok.stdout, ok.stdout + ok.stderr
    assert again.returncode == 1, again.stderr
    assert "被拒绝（重放：序号不比已接受的新）" in again.stderr, again.stderr
    assert "（已生效）新；旧的发布不会再次生效" in again.stderr, again.stderr
    for r in (other, ok, again):
        assert _english(r.stdout + r.stderr) == [], r.stdout + r.stderr
    # the log keeps the documented codes
    pubs = [(x["reason"]) for x in log_recs(tmp_path) if x["type"] == "publication"]
    assert pubs == ["other_region", "accepted", "replay"], pubs


def test_alert_refusals_are_chinese(tmp_path: Path) -> None:
    """`signage alert add` checks a signed alert before it drops it: one for another region
    and an expired one are refused in Chinese, with the documented code's label."""
    from datetime import datetime, timedelta

    from signage.keys import load_signing_key
    from tests.alerts.alertsite import alert_site
    from tests.alerts.capgen import CN, cap

    assert _run("alert", "authority-key", "auth.key", cwd=tmp_path).returncode == 0
    cfg = alert_site(tmp_path, load_signing_key(tmp_path / "auth.key"))
    now = datetime.now(CN)
    (tmp_path / "far.xml").write_bytes(cap("GA-320000-1", sent=now, regions=("320102",)))
    (tmp_path / "old.xml").write_bytes(cap("GA-330106-9", sent=now - timedelta(hours=3),
                                           expires=now - timedelta(hours=1)))
    for n in ("far", "old"):
        r = _run("alert", "seal", f"{n}.xml", "--key", "auth.key", "-o", f"{n}.env",
                 cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    far = _run("alert", "add", "far.env", "-c", str(cfg), cwd=tmp_path)
    old = _run("alert", "add", "old.env", "-c", str(cfg), cwd=tmp_path)
    assert far.returncode == 1, far.stdout + far.stderr
    assert "far.env: 被拒绝（不是发给本场所或本区域的）：警报 GA-320000-1 的发送对象是" in \
        far.stderr, far.stderr
    assert old.returncode == 1 and "（到达时已过期）：警报 GA-330106-9 已于" in old.stderr, \
        old.stderr
    for r in (far, old):
        assert _english(r.stdout + r.stderr) == [], r.stdout + r.stderr
    en = _run("alert", "add", "far.env", "-c", str(cfg), cwd=tmp_path, lang="en")
    assert "refused (other_region): alert GA-320000-1 is for sites" in en.stderr, en.stderr
