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
from signage.inspection.issuer import MAX_AGE_S, REFRESH_S, CodeSource
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

    def append_dict(self, rtype: str, fields: dict[str, Any]) -> None:
        self.append(rtype, **fields)

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
    # a 55 s store item: the code made when it was prepared would be 55 s old at the next
    # anti-fraud start; the runner makes the screen's code again every REFRESH_S
    recs, calls, _clock = _run(tmp_path, True, '["08:00-24:00"]', 60, (55.0, 15.0, 25.0))
    shows = [(t, s) for kind, t, s in calls if kind == "show" and s.anti_fraud]
    assert len(shows) >= 40
    prepared = {s.code.text for kind, _t, s in calls if kind == "prepare" and s.code}
    # a code of its own for each planned showing, made after the switch before it
    made = [s.code.made_mono for _t, s in shows if s.code is not None]
    assert len(set(made)) == len(made)
    switches = [t for kind, t, _s in calls if kind == "show"]
    for t, s in shows:
        assert s.code is not None
        before = [x for x in switches if x < t]
        assert not before or s.code.made_mono >= before[-1]
    # (started before opening: the first showing's code was made ahead too)
    for t, s in shows:
        assert s.code is not None
        age = t - s.code.made_mono
        assert 0 < age <= min(MAX_AGE_S, REFRESH_S + 0.5), age  # made before, fresh at it
        assert s.code.text in prepared  # the driver drew it in prepare, not in the switch
    # what each code states agrees with the log: showings started and the worst gap (end of
    # one anti-fraud showing to the start of the next) before the code was made
    starts = sorted(r["start_mono"] for r in recs
                    if r["type"] == "showing_start" and r["anti_fraud"])
    af_shows = sorted((r["start_mono"], r["end_mono"]) for r in recs
                      if r["type"] == "showing" and r["anti_fraud"])
    for _t, s in shows[5:]:
        assert s.code is not None
        st = parse(s.code.text).statement
        made = s.code.made_mono
        assert st.af_today == sum(1 for m in starts if m < made)
        gaps = [b[0] - a[1] for a, b in zip(af_shows, af_shows[1:], strict=False)
                if b[0] < made]
        assert abs(st.worst_gap_ms - round(max(gaps) * 1000)) <= 1, (st.worst_gap_ms, gaps)
        assert st.head == bytes.fromhex(hashlib.sha256(str(st.seq).encode()).hexdigest())[:16]
        assert not st.partial and st.open_now
        assert 0 < st.worst_gap_ms <= 55_000


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


def test_the_switch_never_makes_a_code(tmp_path: Path) -> None:
    """The switch (make=False) takes the screen's current code if it is fresh, else shows the
    item without one: it never signs or draws."""
    cfg = small_site(tmp_path)
    site = load_site(cfg, datetime(2026, 12, 1).date()).site
    clock = VirtualClock(datetime(2026, 12, 1, 9, 0, tzinfo=TZ).timestamp())
    key = SigningKey.generate()
    src = CodeSource(InspectionSection(enabled=True), lambda: key, clock, lambda: (0, "0" * 64))
    hook = CodeHook(src, "s1")
    item = Showable("af0", ItemKind.TEXT, 1.0, True, "凡是刷单返利就是诈骗")
    assert hook.attach(site, item, clock.monotonic(), make=False).code is None
    assert src.issued == 0
    prepared = hook.attach(site, item, clock.monotonic() + 5)
    assert prepared.code is not None and src.issued == 1
    clock.advance_to(clock.monotonic() + 5)
    assert hook.attach(site, item, clock.monotonic(), make=False).code is prepared.code
    clock.advance_to(clock.monotonic() + 60)  # too old now: not reused, not made
    assert hook.attach(site, item, clock.monotonic(), make=False).code is None
    assert src.issued == 1


def test_unplanned_showings_carry_the_screens_current_code(tmp_path: Path) -> None:
    """A substitute, an urgent alert or a clip was not prepared: it takes the code the screen
    holds (made for the next planned item), when fresh; a store item never gets one."""
    import dataclasses

    from signage.alerts import ALERT_CATEGORY

    cfg = small_site(tmp_path)
    site = load_site(cfg, datetime(2026, 12, 1).date()).site
    clock = VirtualClock(datetime(2026, 12, 1, 9, 0, tzinfo=TZ).timestamp())
    key = SigningKey.generate()
    src = CodeSource(InspectionSection(enabled=True), lambda: key, clock, lambda: (0, "0" * 64))
    planned = Showable("af-1", ItemKind.TEXT, 10.0, True, "凡是刷单返利就是诈骗")
    code = src.attach(site, "s1", planned, clock.monotonic() + 2).code
    assert code is not None
    clock.advance_to(clock.monotonic() + 20)
    alert = Showable("alert-1", ItemKind.TEXT, 10.0, True, "台风红色预警",
                     category=ALERT_CATEGORY)
    clip = Showable("clip-1", ItemKind.CLIP, 10.0, True, path=Path("a.mp4"))
    substitute = dataclasses.replace(planned, item_id="af-9")
    for s in (alert, clip, substitute):
        assert src.attach(site, "s1", s, clock.monotonic(), make=False).code is code
    store = Showable("promo", ItemKind.TEXT, 10.0, False, "本周大米特价")
    assert src.attach(site, "s1", store, clock.monotonic(), make=False).code is None
    assert src.issued == 1


def test_warm_makes_the_first_codes_off_the_runner(tmp_path: Path) -> None:
    cfg = small_site(tmp_path)
    site = load_site(cfg, datetime(2026, 12, 1).date()).site
    clock = VirtualClock(datetime(2026, 12, 1, 9, 0, tzinfo=TZ).timestamp())
    key = SigningKey.generate()
    src = CodeSource(InspectionSection(enabled=True), lambda: key, clock, lambda: (0, "0" * 64))
    src.warm(site, ["s1", "s2"]).join(timeout=30)
    item = Showable("af-1", ItemKind.TEXT, 10.0, True, "凡是刷单返利就是诈骗")
    for sid in ("s1", "s2"):
        code = src.attach(site, sid, item, clock.monotonic(), make=False).code
        assert code is not None and parse(code.text).statement.screen == sid


def test_codes_follow_a_key_rotation_of_the_log(tmp_path: Path) -> None:
    """Format 2: the code is signed by the key the log's checkpoints are signed with now;
    after a rotation, by the new one (the daemon passes writer.signing_key)."""
    from signage.playlog.writer import LogWriter

    cfg = small_site(tmp_path)
    site = load_site(cfg, datetime(2026, 12, 1).date()).site
    clock = VirtualClock(datetime(2026, 12, 1, 9, 0, tzinfo=TZ).timestamp())
    old, new = SigningKey.generate(), SigningKey.generate()
    w = LogWriter(tmp_path / "log", None, TZ, clock, run_id="r", boot_id="b", signing=old,
                  site_id="test-site")
    w.open()
    w.append("heartbeat", screens={})

    def key() -> SigningKey:
        k = w.signing_key
        assert k is not None
        return k

    def head() -> tuple[int, str]:
        return w.head.seq, w.head.mac

    src = CodeSource(InspectionSection(enabled=True), key, clock, head)
    first = src.statement(site, "s1")
    assert first.statement.key_id == old.key_id and first.signature_valid(old.public)
    assert first.statement.head == bytes.fromhex(w.head.mac)[:16]
    w.rotate_key(new)
    w.append("heartbeat", screens={})
    second = src.statement(site, "s1")
    assert second.statement.key_id == new.key_id and second.signature_valid(new.public)
    assert second.statement.seq > first.statement.seq
    w.close()


def test_cadence_every_n_th_anti_fraud_showing(tmp_path: Path) -> None:
    cfg = small_site(tmp_path)
    site = load_site(cfg, datetime(2026, 12, 1).date()).site
    clock = VirtualClock(datetime(2026, 12, 1, 9, 0, tzinfo=TZ).timestamp())
    key = SigningKey.generate()
    src = CodeSource(InspectionSection(enabled=True, every=3), lambda: key, clock,
                     lambda: (0, "0" * 64))
    hook = CodeHook(src, "s1")
    got = []
    for i in range(9):
        item = Showable(f"af{i}", ItemKind.TEXT, 1.0, True, "凡是刷单返利就是诈骗")
        got.append(hook.attach(site, item, clock.monotonic() + 1).code is not None)
        clock.advance_to(clock.monotonic() + 1)
        hook.stats.af_started(site, clock.time())  # the showing started
        clock.advance_to(clock.monotonic() + 1)
        hook.stats.af_ended(site, clock.time())
    assert got == [True, False, False] * 3


def test_the_first_showing_after_a_start_or_reopen_carries_a_code(tmp_path: Path) -> None:
    """Started while open, with no code made yet (no warm() thread ran, as when it lost the
    race with the player): the runner makes the code and prepares the first showing before
    it switches, so the first anti-fraud showing carries one; deterministic, no thread."""
    cfg = small_site(tmp_path, max_gap=60.0, margin=5.0, af_s=(10.0, 12.0))
    loaded = load_site(cfg, datetime(2026, 12, 1).date())
    site = loaded.site
    clock = VirtualClock(datetime(2026, 12, 1, 9, 0, 3, tzinfo=TZ).timestamp())
    spec = screen_spec(loaded.cfg.screens[0], site.media_root)
    drv = Watched(spec, DriverContext(clock=clock, run_dir=tmp_path / "var", virtual=True))
    drv.calls = []
    log = Records(clock)
    r = ScreenRunner(site, site.screens[0], drv, log, Showables(site.media_root),
                     poll_clips=False, iso=IsoFormatter(TZ))
    key = SigningKey.generate()
    src = CodeSource(InspectionSection(enabled=True), lambda: key, clock, log.head)
    r.codes = CodeHook(src, site.screens[0].id)
    r.start()
    end = clock.monotonic() + 120
    while (t := r.wake_at()) <= end:
        clock.sleep_until(t)
        r.act()
    shows = [s for kind, _t, s in drv.calls if kind == "show" and s.anti_fraud]
    assert shows and shows[0].code is not None
    assert all(s.code is not None for s in shows)
