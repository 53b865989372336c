"""The inspection code as its own short slide ([inspection] mode = "slide"): planned after every
N-th anti-fraud showing of an HDMI screen, inside the gap budget (never lengthening a gap
without anti-fraud content), never on an LED board; the runner gives it the screen's fresh
code, the anti-fraud showings none; the simulator's frame of it decodes to that code."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

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


def test_signage_run_with_code_slides_keeps_the_rule_and_passes_the_audit(
        tmp_path: Path) -> None:
    """The real daemon (a real process, a simulator HDMI screen) with code slides on a scaled
    rule (6 s, margin 1 s, 3 s code slides): the log shows code slides as store content, every
    gap between anti-fraud showings stays within the rule, and `signage audit` agrees."""
    import subprocess
    import sys

    from tests.e2e.e2etools import audit_json
    from tests.logtools import af_gaps, records

    cfg = small_site(tmp_path, max_gap=6.0, margin=1.0, af_s=(1.0, 1.5), store_s=(0.5, 1.0))
    cfg.write_text(cfg.read_text("utf-8").replace("width = 320\nheight = 180",
                                                  "width = 1280\nheight = 720")
                   + '\n[inspection]\nenabled = true\nmode = "slide"\nslide_s = 3\n'
                   'hub_url = "https://hub.example.cn"\n', "utf-8")
    r = subprocess.run([sys.executable, "-m", "signage.cli", "run", "--config", str(cfg),
                        "--for", "20s"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    recs = records(tmp_path / "log", tmp_path / "site.key")
    shown = [x for x in recs if x["type"] == "showing" and x.get("status") != "failed"]
    slides = [x for x in shown if x["item"] == CODE_SLIDE_ID]
    assert len(slides) >= 2 and not any(x["anti_fraud"] for x in slides)
    assert max(af_gaps(recs)["s1"]) <= 6.0
    rc, rep = audit_json(tmp_path / "log", tmp_path / "site.key", tmp_path)
    assert rc == 0, rep
