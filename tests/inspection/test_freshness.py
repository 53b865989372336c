"""The box side on a virtual clock: every anti-fraud showing carries a code made ahead of the
switch and at most 50 s (contract: 60 s) before it starts; the code's figures are the log's;
closing hours do not count as a gap; with codes off the timeline is the same."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from signage.config import InspectionSection
from signage.driver import DriverContext, ItemKind, Showable
from signage.inspection.issuer import MAX_AGE_S, CodeSource
from signage.inspection.statement import parse
from signage.keys import SigningKey
from signage.load import load_site, screen_spec
from signage.runtime.clock import VirtualClock
from signage.runtime.codes import CodeHook
from signage.runtime.runner import ScreenRunner
from signage.runtime.showables import Showables
from signage.timeutil import IsoFormatter
from signage_drivers.simulator import SimulatorDriver
from tests.conftest import small_site

TZ = ZoneInfo("Asia/Shanghai")


class Records:
    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.recs: list[dict[str, Any]] = []

    def append(self, rtype: str, **fields: Any) -> None:
        self.recs.append({"type": rtype, "seq": len(self.recs), "wall": self.clock.time(),
                          **fields})

    def head(self) -> tuple[int, str]:
        n = len(self.recs) - 1
        return n, hashlib.sha256(str(n).encode()).hexdigest()


class Watched(SimulatorDriver):
    """The simulator, noting what it was asked to prepare and show, and when."""

    calls: list[tuple[str, float, Showable]]

    def prepare(self, item: Showable) -> None:
        self.calls.append(("prepare", self.ctx.clock.monotonic(), item))
        super().prepare(item)

    def show(self, item: Showable) -> float:
        self.calls.append(("show", self.ctx.clock.monotonic(), item))
        return super().show(item)


def _run(tmp_path: Path, codes: bool, hours: str, minutes: float,
         store_s: tuple[float, ...] = (40.0, 15.0, 25.0)
         ) -> tuple[list[dict[str, Any]], list[tuple[str, float, Showable]], VirtualClock]:
    cfg = small_site(tmp_path, max_gap=60.0, margin=5.0, af_s=(10.0, 12.0), store_s=store_s)
    cfg.write_text(cfg.read_text("utf-8").replace('default = ["00:00-24:00"]',
                                                  f"default = {hours}"), "utf-8")
    loaded = load_site(cfg, datetime(2026, 12, 1).date())
    site = loaded.site
    clock = VirtualClock(datetime(2026, 12, 1, 7, 59, tzinfo=TZ).timestamp())
    spec = screen_spec(loaded.cfg.screens[0], site.media_root)
    drv = Watched(spec, DriverContext(clock=clock, run_dir=tmp_path / "var", virtual=True))
    drv.calls = []
    log = Records(clock)
    r = ScreenRunner(site, site.screens[0], drv, log, Showables(site.media_root),
                     poll_clips=False, iso=IsoFormatter(TZ))
    if codes:
        key = SigningKey.generate()
        src = CodeSource(InspectionSection(enabled=True), lambda: key, clock, log.head)
        r.codes = CodeHook(src, site.screens[0].id)
    r.start()
    end = clock.monotonic() + minutes * 60
    while True:
        t = r.wake_at()
        if t > end:
            break
        clock.sleep_until(t)
        r.act()
    return log.recs, drv.calls, clock


def test_every_anti_fraud_showing_has_a_code_made_ahead_and_fresh(tmp_path: Path) -> None:
    # a 55 s store item: the code prepared at its start would be 55 s old at the next
    # anti-fraud start, so it is made again 3 s before it
    recs, calls, _clock = _run(tmp_path, True, '["08:00-24:00"]', 60, (55.0, 15.0, 25.0))
    shows = [(t, s) for kind, t, s in calls if kind == "show" and s.anti_fraud]
    assert len(shows) >= 40
    refreshed = [t for kind, t, s in calls if kind == "prepare" and s.code is not None
                 and any(abs(t2 - 3.0 - t) < 0.01 for _k, t2, _s in calls if _k == "show")]
    assert len(refreshed) >= 5
    prepared = {id(s) for kind, _t, s in calls if kind == "prepare"}
    # (started before opening: the first showing was prepared 3 s ahead too)
    for t, s in shows:
        assert s.code is not None
        age = t - s.code.made_mono
        assert 0 < age <= MAX_AGE_S, age  # made before the switch, fresh at it
        assert id(s) in prepared  # drawn in prepare, not in the switch
    # what each code states agrees with the log at its seq
    starts = [r for r in recs if r["type"] == "showing_start" and r["anti_fraud"]]
    ends = {r["start_mono"]: r for r in recs if r["type"] == "showing"}
    for _t, s in shows[5:]:
        assert s.code is not None
        st = parse(s.code.text).statement
        assert st.af_today == sum(1 for r in starts if r["seq"] <= st.seq)
        assert st.head == bytes.fromhex(hashlib.sha256(str(st.seq).encode()).hexdigest())[:16]
        assert not st.partial and st.open_now
        assert 0 < st.worst_gap_ms <= 55_000
    del ends


def test_closed_hours_are_no_gap_and_codes_change_nothing_in_the_plan(tmp_path: Path) -> None:
    hours = '["08:00-08:20", "08:40-09:00"]'
    (tmp_path / "on").mkdir()
    (tmp_path / "off").mkdir()
    on, calls, _ = _run(tmp_path / "on", True, hours, 65)
    off, _, _ = _run(tmp_path / "off", False, hours, 65)
    assert any(r["type"] == "screen_clear" for r in on)
    codes = [s.code for kind, _t, s in calls if kind == "show" and s.code is not None]
    after = [parse(c.text).statement for c in codes]
    assert max(st.worst_gap_ms for st in after) <= 55_000  # the 20 min closed is no gap
    key = [(r["item"], r["planned"]) for r in on if r["type"] == "showing_start"]
    assert key == [(r["item"], r["planned"]) for r in off if r["type"] == "showing_start"]


def test_validate_says_which_screens_show_the_code(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import copy_site

    cfg = copy_site(tmp_path)
    cfg.write_text(cfg.read_text("utf-8") + '\n[inspection]\nenabled = true\n'
                   'hub_url = "https://hub.example.cn"\n', "utf-8")
    r = subprocess.run([sys.executable, "-m", "signage.cli", "validate", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=120,
                       env={"COLUMNS": "250", "PATH": "/usr/bin:/bin", "SIGNAGE_LANG": "en"})
    assert r.returncode == 0, r.stdout + r.stderr
    led = next(x for x in r.stdout.splitlines() if "entrance-led" in x and "no code" in x)
    assert "needs at least 61 rows" in led and "16 here" in led
    hdmi = sum(1 for x in cfg.read_text("utf-8").splitlines() if x.startswith("height = ")
               and int(x.split("=")[1].split("#")[0]) > 64)
    assert sum("yes: code" in x for x in r.stdout.splitlines()) == hdmi >= 2


def test_the_switch_never_makes_a_code(tmp_path: Path) -> None:
    """An item that was not prepared (the first after a start mid-day, a substitute) is shown
    without a code rather than signed and drawn in the switch."""
    cfg = small_site(tmp_path)
    site = load_site(cfg, datetime(2026, 12, 1).date()).site
    clock = VirtualClock(datetime(2026, 12, 1, 9, 0, tzinfo=TZ).timestamp())
    key = SigningKey.generate()
    src = CodeSource(InspectionSection(enabled=True), lambda: key, clock, lambda: (0, "0" * 64))
    hook = CodeHook(src, "s1")
    item = Showable("af0", ItemKind.TEXT, 1.0, True, "凡是刷单返利就是诈骗")
    assert hook.attach(site, item, clock.monotonic(), make=False).code is None
    prepared = hook.attach(site, item, clock.monotonic() + 5)
    assert prepared.code is not None
    clock.advance_to(clock.monotonic() + 5)
    assert hook.attach(site, item, clock.monotonic(), make=False) is prepared
    clock.advance_to(clock.monotonic() + 60)  # too old now: not reused, not made
    assert hook.attach(site, item, clock.monotonic(), make=False).code is None


def test_log_mac_at_reads_the_right_file_across_days_and_gzip(tmp_path: Path) -> None:
    import gzip
    import shutil

    from signage.inspection.check import log_mac_at
    from signage.playlog.writer import LogWriter, log_files

    clock = VirtualClock(datetime(2026, 12, 1, 23, 59, 50, tzinfo=TZ).timestamp())
    w = LogWriter(tmp_path / "log", b"k" * 32, TZ, clock, run_id="r", boot_id="b")
    w.open()
    macs: dict[int, str] = {}
    for _ in range(40):
        clock.advance_to(clock.monotonic() + 0.5)
        w.rotate_if_due()
        w.append("heartbeat", screens={})
        macs[w.head.seq] = w.head.mac
    w.close()
    files = log_files(tmp_path / "log")
    assert len(files) == 2
    with open(files[0], "rb") as src, gzip.open(str(files[0]) + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    files[0].unlink()
    for seq, mac in macs.items():
        got = log_mac_at(tmp_path / "log", seq)
        assert got is not None and got[1] == mac, seq
    assert log_mac_at(tmp_path / "log", max(macs) + 5) is None


def test_an_image_is_fitted_above_the_code_never_under_it(tmp_path: Path) -> None:
    from PIL import Image

    from signage.driver import InspectionCode
    from signage.inspection.picture import code_box, image_with_code, qr_modules

    url = "https://hub.example.cn/v/" + "A" * 168
    code = InspectionCode(url, qr_modules(url), "bottom-left", 0.4)
    for w, h, iw, ih in ((1920, 1080, 1000, 1000), (1280, 720, 1600, 900), (1080, 1920, 300, 900)):
        src = tmp_path / f"white{iw}x{ih}.png"
        Image.new("RGB", (iw, ih), (255, 255, 255)).save(src)
        frame = image_with_code(src, w, h, code)
        box = code_box(w, h, len(code.modules), code.position, code.size)
        assert box is not None
        # white image pixels exist, and none lies in the code's rows
        above = frame.crop((0, 0, w, box.y)).convert("L").getbbox()
        assert above is not None
        band = frame.crop((0, box.y, w, h)).convert("L")
        outside_code = Image.new("L", band.size, 0)
        outside_code.paste(band.crop((box.x + box.side, 0, w, band.height)),
                           (box.x + box.side, 0))
        outside_code.paste(band.crop((0, 0, box.x, band.height)), (0, 0))
        assert outside_code.getbbox() is None, (w, h)


def test_no_code_on_an_urgent_alert(tmp_path: Path) -> None:
    import dataclasses

    from signage.alerts import ALERT_CATEGORY

    cfg = small_site(tmp_path)
    site = load_site(cfg, datetime(2026, 12, 1).date()).site
    clock = VirtualClock(datetime(2026, 12, 1, 9, 0, tzinfo=TZ).timestamp())
    key = SigningKey.generate()
    src = CodeSource(InspectionSection(enabled=True), lambda: key, clock, lambda: (0, "0" * 64))
    item = Showable("alert-1", ItemKind.TEXT, 10.0, True, "台风红色预警", category=ALERT_CATEGORY)
    assert src.attach(site, "s1", item, clock.monotonic()).code is None
    assert src.attach(site, "s1", dataclasses.replace(item, category="主题"),
                      clock.monotonic()).code is not None
