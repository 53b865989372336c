"""The inspection code as its own short slide ([inspection] mode = "slide"): planned after every
N-th anti-fraud showing of an HDMI screen, inside the gap budget (never lengthening a gap
without anti-fraud content), never on an LED board; the runner gives it the screen's fresh
code, the anti-fraud showings none; the simulator's frame of it decodes to that code."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import zxingcpp
from PIL import Image

from signage.config import InspectionSection
from signage.driver import DriverContext
from signage.inspection.issuer import CodeSource
from signage.inspection.statement import parse
from signage.keys import SigningKey
from signage.load import load_site, screen_spec
from signage.model import CODE_SLIDE_ID
from signage.plan import Timeline
from signage.runtime.clock import VirtualClock
from signage.runtime.codes import CodeHook
from signage.runtime.runner import ScreenRunner
from signage.runtime.showables import Showables
from signage.timeutil import IsoFormatter
from signage_drivers.simulator import SimulatorDriver
from tests.conftest import small_site
from tests.inspection.test_freshness import Records, Watched

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 12, 1, tzinfo=TZ)


def _site(tmp_path: Path, mode: str | None, kind: str = "hdmi", every: int = 2) -> Path:
    cfg = small_site(tmp_path, max_gap=60.0, margin=5.0, af_s=(10.0, 12.0),
                     store_s=(20.0, 15.0, 25.0, 7.0))
    text = cfg.read_text("utf-8").replace("width = 320\nheight = 180",
                                          "width = 1280\nheight = 720")
    text = text.replace('kind = "hdmi"', f'kind = "{kind}"')
    if mode is not None:
        text += (f'\n[inspection]\nenabled = true\nmode = "{mode}"\nevery = {every}\n'
                 'slide_s = 6\nhub_url = "https://hub.example.cn"\n')
    cfg.write_text(text, "utf-8")
    return cfg


def _entries(cfg: Path, hours: float = 3.0) -> list[tuple[int, int, str, bool]]:
    site = load_site(cfg, DAY.date()).site
    t0 = int(DAY.replace(hour=8).timestamp() * 1000)
    out = []
    for e in Timeline(site, site.screens[0]).entries(t0):
        if e.start_ms > t0 + hours * 3_600_000:
            break
        out.append((e.start_ms, e.end_ms, e.item.id, e.anti_fraud))
    return out


def test_code_slides_are_planned_inside_the_gap_budget_on_hdmi_only(tmp_path: Path) -> None:
    dirs = {k: tmp_path / k for k in ("slide", "led", "corner", "off")}
    for d in dirs.values():
        d.mkdir()
    plan = _entries(_site(dirs["slide"], "slide"))
    af = [e for e in plan if e[3]]
    slides = [e for e in plan if e[2] == CODE_SLIDE_ID]
    assert len(af) > 100
    # right after every 2nd anti-fraud showing of the day, 6 s long
    at = [i for i, e in enumerate(plan) if e[2] == CODE_SLIDE_ID]
    assert all(i > 0 and plan[i - 1][3] for i in at)
    assert all(sum(1 for e in plan[a:b] if e[3]) == 2 for a, b in zip(at, at[1:], strict=False))
    assert len(slides) >= len(af) // 2 - 2
    assert all(e[1] - e[0] == 6000 and not e[3] for e in slides)
    # the gap between two anti-fraud showings (end to start) never passes the budget
    # (max_gap - margin = 55 s), code slide included
    gaps = [b[0] - a[1] for a, b in zip(af, af[1:], strict=False)]
    assert max(gaps) <= 55_000
    assert any(e[2] == CODE_SLIDE_ID for e in plan)
    # an LED board keeps its schedule; "corner" mode plans as codes off
    assert not [e for e in _entries(_site(dirs["led"], "slide", kind="led"))
                if e[2] == CODE_SLIDE_ID]
    assert _entries(_site(dirs["corner"], "corner")) == _entries(_site(dirs["off"], None))


def test_the_code_slide_carries_the_fresh_code_and_decodes(tmp_path: Path) -> None:
    cfg = _site(tmp_path, "slide", every=1)
    loaded = load_site(cfg, DAY.date())
    site = loaded.site
    clock = VirtualClock(DAY.replace(hour=9).timestamp())
    spec = screen_spec(loaded.cfg.screens[0], site.media_root)
    drv = Watched(spec, DriverContext(clock=clock, run_dir=tmp_path / "var", virtual=True))
    drv.calls = []
    log = Records(clock)
    r = ScreenRunner(site, site.screens[0], drv, log, Showables(site.media_root),
                     poll_clips=False, iso=IsoFormatter(TZ))
    key = SigningKey.generate()
    src = CodeSource(loaded.cfg.inspection, lambda: key, clock, log.head)
    assert isinstance(loaded.cfg.inspection, InspectionSection)
    r.codes = CodeHook(src, site.screens[0].id)
    r.start()
    end = clock.monotonic() + 10 * 60
    while (t := r.wake_at()) <= end:
        clock.sleep_until(t)
        r.act()
    shows = [(t, s) for kind, t, s in drv.calls if kind == "show"]
    slides = [(t, s) for t, s in shows if s.item_id == CODE_SLIDE_ID]
    assert len(slides) >= 8
    assert all(s.code is None for _t, s in shows if s.anti_fraud)  # mode "slide": no corner
    for t, s in slides[1:]:  # (the first after the start may come before a code is made)
        assert s.code is not None and not s.anti_fraud
        assert s.code.position == "bottom-center" and 0 < t - s.code.made_mono <= 50
        assert parse(s.code.text).statement.screen == "s1"
    t, s = slides[-1]
    assert s.code is not None
    sim = SimulatorDriver(spec, DriverContext(clock=clock, run_dir=tmp_path / "var2"))
    frame = Image.open(io.BytesIO(sim.preview(s))).convert("L")
    got = [b.text for b in zxingcpp.read_barcodes(frame)]
    assert got == [s.code.text]
    # the recorded showings: the code slide is store content, never credited as anti-fraud
    starts = [rec for rec in log.recs if rec["type"] == "showing_start"]
    assert all(not rec["anti_fraud"] for rec in starts if rec["item"] == CODE_SLIDE_ID)


def _slide_site(tmp_path: Path) -> Path:
    """A scaled rule (6 s, margin 1 s: a 5 s budget) with 3 s code slides on an HDMI screen."""
    cfg = small_site(tmp_path, max_gap=6.0, margin=1.0, af_s=(1.0, 1.5), store_s=(0.5, 1.0))
    cfg.write_text(cfg.read_text("utf-8").replace("width = 320\nheight = 180",
                                                  "width = 1280\nheight = 720")
                   + '\n[inspection]\nenabled = true\nmode = "slide"\nslide_s = 3\n'
                   'hub_url = "https://hub.example.cn"\n', "utf-8")
    return cfg


def _signage(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "signage.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "COLUMNS": "200"})


def test_simulated_code_slides_are_paid_from_the_gap_budget_and_validate_counts_them(
        tmp_path: Path) -> None:
    """`signage simulate` (the daemon's runtime and log writer on the virtual clock, where load
    cannot stretch a gap) with code slides: the log shows them as store content, every gap
    between anti-fraud showings stays within the budget (max_gap - margin = 5 s), the gaps that
    hold a code slide are within the worst planned gap `signage validate` prints (it includes
    the slide), and `signage audit --simulated` finds the log compliant."""
    from tests.logtools import records, run_gaps

    cfg = _slide_site(tmp_path)
    val = _signage("validate", "--config", str(cfg), "--days", "1", cwd=tmp_path)
    assert val.returncode == 0, val.stderr
    m = re.search(r"\bs1\s*│\s*simulator\s*│\s*([0-9.]+) s\s*│\s*6 s", val.stdout)
    assert m, val.stdout
    worst_planned = float(m.group(1))
    assert 3.0 < worst_planned <= 5.0
    log = tmp_path / "simlog"
    res = _signage("simulate", "--config", str(cfg), "--start", "2026-12-01", "--for", "30m",
                   "--log", str(log), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    recs = records(log, log / "simulate.key")
    shown = [x for x in recs if x["type"] == "showing" and x["outcome"] != "failed"]
    slides = [x for x in shown if x["item"] == CODE_SLIDE_ID]
    af = [x for x in shown if x["anti_fraud"]]
    assert len(slides) >= 100 and not any(x["anti_fraud"] for x in slides)
    assert all(x["end_mono"] - x["start_mono"] == pytest.approx(3.0, abs=0.01) for x in slides)
    gaps = run_gaps(recs, "s1")
    assert len(gaps) == len(af) + 1 and max(gaps) <= 5.0 + 1e-6
    with_slide = [b["start_mono"] - a["end_mono"] for a, b in itertools.pairwise(af)
                  if any(a["end_mono"] <= x["start_mono"] < b["start_mono"] for x in slides)]
    assert len(with_slide) >= len(slides) - 1
    assert 3.0 <= max(with_slide) <= worst_planned + 0.05  # (validate prints 0.1 s)
    out = _signage("audit", str(log), "--key", str(log / "simulate.key"), "--simulated",
                   "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr
    assert json.loads(out.stdout)["screens"][0]["max_gap_s"] == pytest.approx(max(gaps),
                                                                              abs=0.001)


def test_signage_run_with_code_slides_logs_them_as_store_content_and_audits_as_read(
        tmp_path: Path) -> None:
    """The real daemon (a real process, real time, a simulator HDMI screen) with code slides:
    it runs until its log holds two code slides, which are store content, and `signage audit`
    reads the gaps as an independent reader does. (How long a real run's gaps are depends on
    how busy the machine is; the budget is proven on the virtual clock above.)"""
    from tests.e2e.e2etools import audit_json, signage_run, wait_for
    from tests.logtools import records, run_gaps

    cfg = _slide_site(tmp_path)
    proc = signage_run(cfg, "10m")
    try:
        wait_for(tmp_path / "log", proc, "two code slides",
                 lambda rs: sum(1 for x in rs if x["type"] == "showing"
                                and x["item"] == CODE_SLIDE_ID) >= 2, timeout_s=180)
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    recs = records(tmp_path / "log", tmp_path / "site.key")
    assert recs[-1]["type"] == "run_stop"
    slides = [x for x in recs if x["type"] == "showing" and x["item"] == CODE_SLIDE_ID]
    assert len(slides) >= 2 and not any(x["anti_fraud"] for x in slides)
    worst = max(run_gaps(recs, "s1"))
    rc, rep = audit_json(tmp_path / "log", tmp_path / "site.key", tmp_path)
    assert rep["integrity"]["intact"], rep["integrity"]
    assert rep["screens"][0]["max_gap_s"] == pytest.approx(worst, abs=0.002)
    if abs(worst - 6.0) > 0.002:
        assert rep["verdict"] == ("compliant" if worst <= 6.0 else "violations"), worst
    assert rc == (0 if rep["verdict"] == "compliant" else 1), rep["verdict"]
