"""The outputs: table, CSV, the HTML report, and `python -m signage.audit`."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .logkit import DAY0, KEY, Daemon, FakeClock, audit, site

H8 = 8 * 3600.0


@pytest.fixture
def log(tmp_path: Path) -> Path:
    c = FakeClock(DAY0, mono=0.0)
    d = Daemon(tmp_path / "log", c, site([("led-1", 64, 16), ("hdmi-1", 1920, 1080)],
                                        hours=["08:00-08:30"]), start=H8 - 10)
    t, n = H8, 0
    while t < H8 + 1800:
        n += 1
        for sid in ("led-1", "hdmi-1"):
            d.showing(sid, "af1" if t < H8 + 900 else "af2", True, t, t + 8)
        gap = 90.0 if n == 15 else 30.0
        for sid in ("led-1", "hdmi-1"):
            d.showing(sid, "ad", False, t + 8, t + 8 + gap)
        d.heartbeat(t + 8 + gap)
        t += 8 + gap
    d.stop(t + 10)
    return tmp_path / "log"


def test_table(log: Path, tmp_path: Path) -> None:
    code, out, err = audit(log, tmp=tmp_path)
    assert code == 1, err
    assert "便民超市" in out and "integrity: intact" in out
    assert "Violations (2)" in out and "store_content" in out
    assert "verdict: violations (exit 1)" in out


def test_csv(log: Path, tmp_path: Path) -> None:
    code, out, _err = audit(log, "--format", "csv", tmp=tmp_path)
    assert code == 1
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["screen"] for r in rows] == ["led-1", "hdmi-1"]
    assert {r["length_s"] for r in rows} == {"90.0"}
    assert rows[0]["causes"] == "store_content" and rows[0]["day"] == "2026-11-30"


def test_html_report_is_self_contained(log: Path, tmp_path: Path) -> None:
    report = tmp_path / "audit.html"
    code, _out, err = audit(log, "--report", report, tmp=tmp_path)
    assert code == 1, err
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert "便民超市 7 号店" in html and "李娜" in html and "+86 21 5555 0101" in html
    assert "violations" in html and "<svg" in html and "#7f0000" in html  # marked violations
    pngs = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(pngs) == 4  # two slogans, each on an LED board and an HDMI screen
    # nothing is fetched from elsewhere
    assert not re.search(r"(src|href)=['\"](https?:|//)", html)
    assert "<script" not in html


def test_log_text_is_escaped_in_the_report(tmp_path: Path) -> None:
    c = FakeClock(DAY0, mono=0.0)
    evil = "<script>alert(1)</script>"
    fields = site(items={"af1": {"playlist": "af", "kind": "text", "anti_fraud": True,
                                 "category": evil, "text": evil, "path": None}})
    fields["site"]["name"] = evil
    d = Daemon(tmp_path / "log", c, fields, start=H8)
    d.showing("s1", "af1", True, H8, H8 + 10, category=evil)
    d.stop(H8 + 20)
    report = tmp_path / "r.html"
    code, _out, err = audit(tmp_path / "log", "--report", report, tmp=tmp_path)
    assert code == 0, err
    assert "<script" not in report.read_text(encoding="utf-8")


def test_python_m_maps_parser_errors_to_3(log: Path, tmp_path: Path) -> None:
    kf = tmp_path / "k"
    kf.write_bytes(KEY)
    kf.chmod(0o600)
    run = [sys.executable, "-m", "signage.audit"]
    bad = subprocess.run([*run, str(log), "--no-such-option"], capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 3
    ok = subprocess.run([*run, str(log), "--key", str(kf), "--format", "json", "--jobs", "2"],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 1, ok.stderr
    assert '"verdict": "violations"' in ok.stdout
