"""Compliance on hand-made logs: gaps, opening hours, causes, measures, options."""

from __future__ import annotations

from pathlib import Path

from .logkit import DAY0, Daemon, FakeClock, audit, audit_json, site

H8 = 8 * 3600.0  # mono offset of 08:00 on DAY0 (the clock's mono 0 is DAY0 00:00)


def clock() -> FakeClock:
    return FakeClock(DAY0, mono=0.0)


def af(d: Daemon, screen: str, a: float, b: float, **kw: object) -> None:
    d.showing_start(screen, "af1", True, a)
    d.showing(screen, "af1", True, a, b, **kw)  # type: ignore[arg-type]


def store(d: Daemon, screen: str, a: float, b: float) -> None:
    d.showing_start(screen, "ad", False, a)
    d.showing(screen, "ad", False, a, b)


def test_compliant_day_and_a_planned_gap(tmp_path: Path) -> None:
    c = clock()
    d = Daemon(tmp_path / "log", c, site(hours=["08:00-09:00"]), start=H8 - 60)
    t = H8
    while t < H8 + 3600:
        af(d, "s1", t, t + 10)
        gap = 75.0 if abs(t - (H8 + 1800)) < 1 else 40.0
        store(d, "s1", t + 10, t + 10 + gap)
        t += 10 + gap
    d.stop(H8 + 3700)
    code, doc = audit_json(tmp_path / "log", tmp=tmp_path)
    assert code == 1
    assert doc["verdict"] == "violations"
    assert doc["integrity"]["intact"] is True
    [v] = doc["violations"]
    assert v["length_s"] == 75.0
    assert v["cause"] == "store_content"
    assert v["start"] == "2026-11-30T08:30:10.000+08:00"
    [scr] = doc["screens"]
    assert scr["max_gap_s"] == 75.0
    assert scr["open_s"] == 3600.0
    # the last showing ends after 09:00: the tail gap is cut at closing
    assert doc["days"][0]["max_gap_s"] == 75.0


def test_gap_rule_respected_is_exit_0(tmp_path: Path) -> None:
    c = clock()
    d = Daemon(tmp_path / "log", c, site(hours=["08:00-08:10"]), start=H8 - 5)
    t = H8
    while t < H8 + 600:
        af(d, "s1", t, t + 10)
        store(d, "s1", t + 10, t + 60)
        t += 60
    d.stop(H8 + 610)
    code, doc = audit_json(tmp_path / "log", tmp=tmp_path)
    assert (code, doc["verdict"]) == (0, "compliant")
    assert doc["screens"][0]["max_gap_s"] == 50.0
    assert doc["screens"][0]["af_share"] == round(100 / 600, 4)


def test_opening_starts_the_clock_and_closing_stops_it(tmp_path: Path) -> None:
    c = clock()
    d = Daemon(tmp_path / "log", c, site(hours=["08:00-08:05"]), start=H8 - 600)
    af(d, "s1", H8 - 100, H8 - 90)  # before opening: the clock starts at 08:00, not here
    af(d, "s1", H8 + 55, H8 + 65)  # 55 s after opening: fine
    af(d, "s1", H8 + 120, H8 + 130)  # 55 s later: fine
    d.stop(H8 + 600)  # 08:10; closing at 08:05 ends the last interval at 170 s
    code, doc = audit_json(tmp_path / "log", tmp=tmp_path)
    assert code == 1
    [v] = doc["violations"]
    assert (v["start"][11:19], v["end"][11:19], v["length_s"]) == ("08:02:10", "08:05:00", 170.0)


def test_start_to_start_measure(tmp_path: Path) -> None:
    c = clock()
    d = Daemon(tmp_path / "log", c, site(measure="start-to-start", max_gap_s=60),
               start=H8)
    af(d, "s1", H8, H8 + 30)
    af(d, "s1", H8 + 70, H8 + 100)  # starts 70 s apart, 40 s end-to-start
    d.stop(H8 + 120)
    code, doc = audit_json(tmp_path / "log", tmp=tmp_path)
    assert code == 1
    assert [v["length_s"] for v in doc["violations"]] == [70.0]
    code, doc = audit_json(tmp_path / "log", "--max-gap", "70", tmp=tmp_path)
    assert code == 0 and doc["rule"]["source"] == "--max-gap"


def test_crash_and_restart_is_daemon_not_running(tmp_path: Path) -> None:
    c = clock()
    log = tmp_path / "log"
    d = Daemon(log, c, site(), start=H8)
    af(d, "s1", H8, H8 + 10)
    d.heartbeat(H8 + 30)
    d.showing_start("s1", "af1", True, H8 + 40)
    d.crash()  # the showing that started is never completed in the log
    d2 = Daemon(log, c, site(), start=H8 + 300)
    af(d2, "s1", H8 + 301, H8 + 311)
    d2.stop(H8 + 320)
    code, doc = audit_json(log, tmp=tmp_path)
    assert code == 1
    [v] = doc["violations"]
    assert v["length_s"] == 291.0
    assert v["cause"] == "daemon_not_running"
    [o] = [o for o in doc["outages"] if o["kind"] == "daemon_not_running"]
    assert o["length_s"] == 260.0 and "no run_stop" in o["reason"]


def test_screen_down_and_driver_error_causes(tmp_path: Path) -> None:
    c = clock()
    d = Daemon(tmp_path / "log", c, site(screens=[("s1", 128, 16), ("s2", 1920, 1080)]),
               start=H8)
    d.showing("s1", "af1", True, H8, H8 + 10)
    d.showing("s2", "af1", True, H8, H8 + 10)
    d.append(H8 + 20, "driver_error", screen="s1", item=None, error="unavailable",
             message="no reply")
    d.append(H8 + 20, "screen_down", screen="s1", reason="no reply")
    d.append(H8 + 25, "driver_error", screen="s2", item="af2", error="rejected",
             message="bad glyph")
    d.showing("s2", "af2", True, H8 + 25, H8 + 25, outcome="failed", reason="bad glyph")
    for hb in (30, 60, 90, 120, 150):  # the daemon is alive: heartbeats
        d.heartbeat(H8 + hb)
    d.showing("s2", "af1", True, H8 + 150, H8 + 160)
    d.heartbeat(H8 + 180)
    d.append(H8 + 200, "screen_up", screen="s1", down_s=180.0)
    d.showing("s1", "af1", True, H8 + 201, H8 + 211)
    d.stop(H8 + 220)
    code, doc = audit_json(tmp_path / "log", tmp=tmp_path)
    assert code == 1
    causes = {v["screen"]: v["cause"] for v in doc["violations"]}
    assert causes == {"s1": "screen_down", "s2": "driver_error"}
    assert [o["screen"] for o in doc["outages"] if o["kind"] == "screen_down"] == ["s1"]


def test_from_to_and_screen_filter(tmp_path: Path) -> None:
    c = clock()
    d = Daemon(tmp_path / "log", c, site(screens=[("s1", 128, 16), ("s2", 128, 16)]),
               start=H8)
    for t in range(0, 600, 50):
        d.showing("s1", "af1", True, H8 + t, H8 + t + 10)
        if t == 300:
            d.showing("s2", "af1", True, H8 + 300, H8 + 310)
    d.stop(H8 + 600)
    code, doc = audit_json(tmp_path / "log", "--screen", "s1", tmp=tmp_path)
    assert code == 0 and [s["screen"] for s in doc["screens"]] == ["s1"]
    code, doc = audit_json(tmp_path / "log", "--screen", "s2", "--from",
                           "2026-11-30T08:05", "--to", "2026-11-30T08:09", tmp=tmp_path)
    assert code == 1
    assert [(v["start"][11:19], v["end"][11:19]) for v in doc["violations"]] == [
        ("08:05:10", "08:09:00")]
    # an audited period before the log began: no records is a gap (conservative)
    code, doc = audit_json(tmp_path / "log", "--screen", "s1", "--from",
                           "2026-11-30T07:58", tmp=tmp_path)
    assert code == 1 and doc["violations"][0]["cause"] == "daemon_not_running"


def test_clock_step_is_flagged_and_lengths_use_monotonic_time(tmp_path: Path) -> None:
    c = clock()
    d = Daemon(tmp_path / "log", c, site(), start=H8)
    af(d, "s1", H8, H8 + 10)
    d.heartbeat(H8 + 20)
    c.offset += 120.0  # NTP moves the wall clock 2 minutes forward
    d.heartbeat(H8 + 30)
    af(d, "s1", H8 + 50, H8 + 60)
    d.stop(H8 + 70)
    code, doc = audit_json(tmp_path / "log", tmp=tmp_path)
    assert code == 0  # 40 s on the monotonic clock, though the wall clock says 160 s
    assert doc["screens"][0]["max_gap_s"] == 40.0
    assert [s["source"] for s in doc["clock_steps"]] == ["clock_step record"]


def test_clock_step_between_runs_is_observed(tmp_path: Path) -> None:
    c = clock()
    log = tmp_path / "log"
    d = Daemon(log, c, site(), start=H8)
    af(d, "s1", H8, H8 + 10)
    d.stop(H8 + 20)
    c.offset -= 300.0  # while the daemon was stopped (same boot), the wall clock went back
    d2 = Daemon(log, c, site(), start=H8 + 30)
    af(d2, "s1", H8 + 50, H8 + 60)
    d2.stop(H8 + 70)
    code, doc = audit_json(log, tmp=tmp_path)
    assert code == 0 and doc["screens"][0]["max_gap_s"] == 40.0
    [step] = doc["clock_steps"]
    assert step["source"] == "observed on s1" and step["step_s"] == -300.0


def test_reload_changes_hours_from_its_instant(tmp_path: Path) -> None:
    c = clock()
    fields = site(hours=["08:00-08:10"])
    d = Daemon(tmp_path / "log", c, fields, start=H8)
    af(d, "s1", H8, H8 + 10)
    new = site(hours=["08:00-08:02"])
    d.append(H8 + 20, "reload", accepted=True, problems=[], config_sha256="d" * 64,
             playlists_sha256={}, rule=new["rule"], hours=new["hours"],
             screens=new["screens"], items=new["items"])
    d.stop(H8 + 600)
    code, doc = audit_json(tmp_path / "log", tmp=tmp_path)
    # closed from 08:02 on (the new hours): the gap ends there
    assert code == 1
    [v] = doc["violations"]
    assert (v["end"][11:19], v["length_s"]) == ("08:02:00", 110.0)


def test_reboot_gap_is_measured_on_the_wall_clock(tmp_path: Path) -> None:
    c = clock()
    log = tmp_path / "log"
    d = Daemon(log, c, site(), start=H8, boot="boot-1")
    af(d, "s1", H8, H8 + 10)
    d.crash()  # power cut; the box boots again: a new boot id, monotonic time restarts
    c.offset += 5000.0  # (mono restarts near 0 on a real box; wall = mono + offset)
    d2 = Daemon(log, c, site(), start=H8 + 100, boot="boot-2")
    af(d2, "s1", H8 + 110, H8 + 120)
    d2.stop(H8 + 130)
    code, doc = audit_json(log, tmp=tmp_path)
    assert code == 1
    [v] = doc["violations"]
    assert v["length_s"] == 5100.0 and "reboot" in v["flags"]
    assert v["cause"] == "daemon_not_running"


def test_unknown_screen_is_a_usage_error(tmp_path: Path) -> None:
    c = clock()
    d = Daemon(tmp_path / "log", c, site(), start=H8)
    d.stop(H8 + 10)
    code, _out, err = audit(tmp_path / "log", "--screen", "nope", tmp=tmp_path)
    assert code == 3 and "no such screen" in err and "s1" in err


def test_a_clock_step_late_in_the_log_starts_the_audit_again(tmp_path: Path) -> None:
    """run.py audits without the clock_step pre-scan until a chunk holds one, then starts
    again with it: the same figures and violations (none twice) as with the pre-scan from
    the start (a sink without reset: run.py then always pre-scans)."""
    from signage.audit.reader import discover
    from signage.audit.run import Options, run
    from signage.audit.spool import Spool

    from .logkit import KEY

    c = clock()
    d = Daemon(tmp_path / "log", c, site(), start=H8)
    t = H8
    for _ in range(30):  # violations (90 s gaps) before the step
        af(d, "s1", t, t + 10)
        t += 100
    c.offset += 120.0
    d.heartbeat(t)
    af(d, "s1", t + 10, t + 20)
    d.stop(t + 30)
    files, complete = discover([tmp_path / "log"])
    got = []
    for sink in (Spool(), None):
        seen: list[object] = []
        on = sink if sink is not None else seen.append
        integ, comp = run(files, Options(key=KEY, chunk=900, on_violation=on),  # type: ignore[arg-type]
                          complete_dir=complete)
        vs = list(sink) if sink is not None else seen
        got.append((integ.intact, integ.records, [(v.screen, v.start, v.end) for v in vs],  # type: ignore[attr-defined]
                    {s: comp.max_gap_ms(s) for s in comp.screens}, len(comp.clock_steps)))
    assert got[0] == got[1]
    assert len(got[0][2]) == 30 and got[0][4] >= 1
