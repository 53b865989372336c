"""`signage report` on a real run's log, format 2 (signed checkpoints): the campaign summary
checks the log with the box's own public key and says so; A4 HTML and a PDF from Chromium."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import AF, CONFIG, STORE, child_env


def test_report_on_a_format_2_log(tmp_path: Path) -> None:
    (tmp_path / "playlists").mkdir()
    (tmp_path / "media").mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG.format(port=8799).replace(
        "heartbeat_s = 2", 'heartbeat_s = 2\nformat = 2\nsigning_key = "signing.key"'), "utf-8")
    (tmp_path / "playlists" / "af.toml").write_text(AF, "utf-8")
    (tmp_path / "playlists" / "store.toml").write_text(STORE, "utf-8")
    env = child_env()
    run = subprocess.run([sys.executable, "-m", "signage.cli", "run", "--config", str(cfg),
                          "--for", "35s", "--no-live"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out, pdf = tmp_path / "总结.html", tmp_path / "总结.pdf"
    rep = subprocess.run([sys.executable, "-m", "signage.cli", "report", "--config", str(cfg),
                          "--out", str(out), "--pdf", str(pdf)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert rep.returncode == 0, rep.stderr
    html = out.read_text("utf-8")
    assert "本机自己的公钥" in html  # a self-check, said as such
    assert "达标：每块屏都遵守了间隔规定，日志完整" in html
    assert "@page { size: A4" in html and "张三，店长" in html
    assert "刷单返利" in html and "冒充公检法" in html
    assert pdf.read_bytes()[:5] == b"%PDF-"
    # the console's 报告 page keeps the latest signed checkpoint with the run
    from signage.console.reports import run_reports

    res = run_reports(cfg, tmp_path / "console", "", "")
    assert res.exit_code == 0, res.messages
    kept = (tmp_path / "console" / "reports" / res.rid / "checkpoint.txt").read_bytes()
    assert b'"type":"checkpoint"' in kept and kept.endswith(b"\n") and kept.count(b"\n") == 1
    # a damaged log: the same command says the summary proves nothing (exit 2)
    log = next((tmp_path / "log").glob("signage-*.jsonl"))
    lines = log.read_bytes().split(b"\n")
    n = next(i for i, ln in enumerate(lines)
             if b'"type":"showing_start"' in ln and b'"item":"af1"' in ln)
    lines[n] = lines[n].replace(b'"item":"af1"', b'"item":"af2"')  # an edited record
    log.write_bytes(b"\n".join(lines))
    bad = subprocess.run([sys.executable, "-m", "signage.cli", "report", "--config", str(cfg),
                          "--out", str(out)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 2, bad.stderr
    assert "日志完整性被破坏：本总结不能作为证明" in out.read_text("utf-8")
