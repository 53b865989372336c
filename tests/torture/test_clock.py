"""Clock: the wall clock steps ±1 h during a run, and a box boots at 1970 before NTP.

The runtime is built in process on a VirtualClock (the step is made from a house-keeping
point, as an NTP correction lands between two records), and once on the real loop with real
threads. Checks: the log records each step (`clock_step`); the runtime keeps the rule on
monotonic time; and the audit measures on monotonic time: its gaps, open time and days agree
with an independent computation from the log's monotonic fields, with no false violation
from the step and no real gap hidden by it."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from signage.load import load_site
from signage.runtime.clock import RealClock, VirtualClock
from signage.runtime.daemon import RunSettings, Runtime
from tests.conftest import small_site
from tests.logtools import records

from .helpers import audit_api, report

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=TZ).timestamp()
MAX_GAP = 3.0
RUN_S = 600.0
STEP_AT_HB = 300  # the step lands right after the 300th heartbeat (heartbeat_s = 1)


def _runtime(root: Path, clock: Any, stop: threading.Event | None = None,
             **settings: Any) -> Runtime:
    cfg = root / "config.toml"
    if not cfg.exists():
        small_site(root)
    return Runtime(load_site(cfg), clock, RunSettings(
        log_dir=root / "log", key_file=root / "site.key", run_dir=root / "var",
        say=lambda _m: None, **settings), stop)


def _simulate(root: Path, clock: VirtualClock, seconds: float,
              reason: str = "duration reached") -> None:
    """A whole simulated run of ``seconds`` from the clock's now, stopped for ``reason``."""
    rt = _runtime(root, clock, virtual=True)
    rt.setup()
    rt.run_virtual(clock.monotonic() + seconds)
    rt.stop_reason = reason
    rt.finish()


def simulate_with_step(root: Path, wall0: float, step: float, *, hb: int = STEP_AT_HB,
                       run_s: float = RUN_S, halves: bool = False) -> list[dict[str, Any]]:
    """A simulated run of ``run_s`` seconds whose wall clock steps by ``step`` right after
    heartbeat number ``hb`` (or, with ``halves``, between two halves of run_virtual at
    ``hb`` seconds). Returns the log's records (chain verified)."""
    clock = VirtualClock(wall0)
    rt = _runtime(root, clock, virtual=True)
    rt.setup()
    if halves:
        m0 = clock.monotonic()
        rt.run_virtual(m0 + hb)
        clock.step_wall(step)
        rt.run_virtual(m0 + run_s)
        rt.stop_reason = "duration reached"
        rt.finish()
        return records(root / "log", root / "site.key")
    real_hk = rt.housekeeping
    seen = [0]

    def housekeeping(name: str) -> None:
        real_hk(name)
        if name == "heartbeat":
            seen[0] += 1
            if seen[0] == hb:
                clock.step_wall(step)

    rt.housekeeping = housekeeping  # type: ignore[method-assign]
    rt.run_virtual(clock.monotonic() + run_s)
    rt.stop_reason = "duration reached"
    rt.finish()
    return records(root / "log", root / "site.key")


def mono_truth(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """From the log alone, on monotonic time (one boot, one run, hours 00:00-24:00): the
    gaps between anti-fraud showings (end to start, from the first record, to run_stop),
    and how long the run lasted."""
    start, stop = recs[0]["mono"], recs[-1]["mono"]
    shows = sorted((r["start_mono"], r["end_mono"]) for r in recs if r["type"] == "showing"
                   and r["anti_fraud"] and r["outcome"] != "failed"
                   and r["end_mono"] > r["start_mono"])
    gaps = []
    ref = start
    for a, b in shows:
        if a > ref:
            gaps.append((ref, a - ref))
        ref = max(ref, b)
    if stop > ref:
        gaps.append((ref, stop - ref))
    return {"run_s": stop - start, "gaps": gaps, "max_gap": max(g for _a, g in gaps),
            "over": [g for g in gaps if g[1] > MAX_GAP + 0.0005], "af": len(shows)}


def _steps(recs: list[dict[str, Any]]) -> list[float]:
    return [r["step_s"] for r in recs if r["type"] == "clock_step"]


# ---- the runtime -----------------------------------------------------------------------------
@pytest.mark.parametrize("step", [3600.0, -3600.0], ids=["plus-1h", "minus-1h"])
def test_runtime_keeps_the_rule_across_a_wall_step(tmp_path: Path, step: float) -> None:
    recs = simulate_with_step(tmp_path, T0, step)
    assert _steps(recs) == [step], "the step is recorded once, with its size"
    truth = mono_truth(recs)
    i_step = next(i for i, r in enumerate(recs) if r["type"] == "clock_step")
    after = [r for r in recs[i_step:] if r["type"] == "showing_start" and r["anti_fraud"]]
    clears = [r for r in recs if r["type"] == "screen_clear"]
    report(f"clock: runtime {step:+.0f} s", af_showings_after_step=len(after),
           max_gap_mono_s=round(truth["max_gap"], 3), screen_clears=len(clears))
    assert not clears, f"the screen was blanked at the step: {clears[0]}"
    assert len(after) >= 80, f"only {len(after)} anti-fraud showings in the 300 s after the step"
    assert truth["max_gap"] <= MAX_GAP, truth["over"][:3]


class SteppableClock(RealClock):
    """The real clock, with a wall offset the test can step (the machine's clock is left
    alone)."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__(stop)
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset


def test_real_loop_keeps_showing_and_heartbeating_after_the_wall_clock_steps_back(
        tmp_path: Path) -> None:
    """The real loop (one thread per screen, house-keeping on wall-clock triggers): an NTP
    correction of one hour back must not stop the screens nor the heartbeats (each one also
    tells systemd's watchdog, WatchdogSec=90, that the daemon lives)."""
    stop = threading.Event()
    clock = SteppableClock(stop)
    rt = _runtime(tmp_path, clock, stop, duration_s=8.0)
    rt.setup()

    def step() -> None:
        time.sleep(2.5)
        clock.offset -= 3600.0

    threading.Thread(target=step, daemon=True).start()
    rt.run_real()
    rt.stop_reason = "duration reached"
    rt.finish()
    recs = records(tmp_path / "log", tmp_path / "site.key")
    assert _steps(recs) and abs(_steps(recs)[0] + 3600) < 1
    i = next(i for i, r in enumerate(recs) if r["type"] == "clock_step")
    t_step = recs[i]["mono"]
    end = recs[-1]["mono"]
    hbs = [r for r in recs[i:] if r["type"] == "heartbeat"]
    af = [r for r in recs[i:] if r["type"] == "showing_start" and r["anti_fraud"]]
    truth = mono_truth(recs)
    report("clock: real loop -3600 s", seconds_after_step=round(end - t_step, 1),
           heartbeats_after=len(hbs), af_showings_after=len(af),
           max_gap_mono_s=round(truth["max_gap"], 3))
    problems = []
    if len(hbs) < int(end - t_step) - 2:
        problems.append(f"{len(hbs)} heartbeats in the {end - t_step:.1f} s after the step "
                        "(heartbeat_s = 1): house-keeping waits for the wall clock")
    if truth["max_gap"] > MAX_GAP:
        problems.append(f"a gap of {truth['max_gap']:.1f} s on monotonic time after the step "
                        f"({len(af)} anti-fraud showings after it)")
    assert not problems, "; ".join(problems)


# ---- the audit -------------------------------------------------------------------------------
def _audit_matches_truth(root: Path, recs: list[dict[str, Any]]) -> dict[str, Any]:
    res = audit_api([root / "log"], root / "site.key")
    doc = res.doc
    truth = mono_truth(recs)
    assert doc["integrity"]["intact"], doc["integrity"]["findings"][:3]
    steps = [s["step_s"] for s in doc["clock_steps"] if s["source"] == "clock_step record"]
    assert steps == _steps(recs), doc["clock_steps"]
    scr = doc["screens"][0]
    problems = []
    if abs(scr["open_s"] - truth["run_s"]) > 1.0:
        problems.append(f"open time {scr['open_s']} s, but the run lasted {truth['run_s']:.1f} s "
                        "on the monotonic clock")
    if abs(scr["max_gap_s"] - truth["max_gap"]) > 0.01:
        problems.append(f"worst gap {scr['max_gap_s']} s, on monotonic time it is "
                        f"{truth['max_gap']:.3f} s")
    if len(doc["violations"]) != len(truth["over"]):
        problems.append(f"{len(doc['violations'])} violations, the log proves "
                        f"{len(truth['over'])} gaps over {MAX_GAP} s: {truth['over'][:3]}")
    want = 1 if truth["over"] else 0
    if res.code != want:
        problems.append(f"exit {res.code}, expected {want}")
    if len(doc["days"]) > 2:
        problems.append(f"{len(doc['days'])} day rows for a {truth['run_s']:.0f} s run "
                        f"({doc['days'][0]['day']} .. {doc['days'][-1]['day']})")
    if doc["period"]["to"] < doc["period"]["from"]:
        problems.append(f"period ends before it starts: {doc['period']}")
    return {"problems": problems, "doc": doc, "truth": truth}


@pytest.mark.parametrize("step", [3600.0, -3600.0], ids=["plus-1h", "minus-1h"])
def test_audit_measures_a_wall_step_on_monotonic_time(tmp_path: Path, step: float) -> None:
    recs = simulate_with_step(tmp_path, T0, step)
    got = _audit_matches_truth(tmp_path, recs)
    scr = got["doc"]["screens"][0]
    report(f"clock: audit {step:+.0f} s", open_s=scr["open_s"], run_s=round(got["truth"]["run_s"]),
           max_gap_s=scr["max_gap_s"], violations=len(got["doc"]["violations"]),
           gaps_over_limit_in_log=len(got["truth"]["over"]))
    assert not got["problems"], "; ".join(got["problems"])


@pytest.mark.parametrize("step", [3600.0, -3600.0], ids=["plus-1h", "minus-1h"])
def test_a_real_gap_across_a_step_is_measured_on_monotonic_time(tmp_path: Path,
                                                               step: float) -> None:
    """The daemon stalls for 8 s (nothing is shown), and the wall clock steps in the middle
    of the stall: the audit reports one violation of the monotonic length (not 8 s ± 1 h, and
    not nothing), placed at the stall's start, flagged clock_step."""
    clock = VirtualClock(T0)
    rt = _runtime(tmp_path, clock, virtual=True)
    rt.setup()
    m0 = clock.monotonic()
    rt.run_virtual(m0 + 120)
    clock.advance_to(m0 + 124)
    clock.step_wall(step)
    clock.advance_to(m0 + 128)
    rt.run_virtual(m0 + 240)
    rt.stop_reason = "duration reached"
    rt.finish()
    recs = records(tmp_path / "log", tmp_path / "site.key")
    truth = mono_truth(recs)
    assert len(truth["over"]) == 1 and 8.0 - MAX_GAP <= truth["over"][0][1] <= 8.0 + MAX_GAP
    res = audit_api([tmp_path / "log"], tmp_path / "site.key")
    doc = res.doc
    assert res.code == 1, (res.code, doc["violations"])
    (v,) = doc["violations"]
    assert abs(v["length_s"] - truth["over"][0][1]) < 0.01, (v, truth["over"])
    assert "clock_step" in v["flags"]
    last_af = max((r for r in recs if r["type"] == "showing" and r["anti_fraud"]
                   and r["end_mono"] <= truth["over"][0][0] + 0.001),
                  key=lambda r: r["end_mono"])
    assert v["start"] == last_af["end"], (v["start"], last_af["end"])
    got = _audit_matches_truth(tmp_path, recs)
    report(f"clock: stall across a {step:+.0f} s step", violation_s=v["length_s"],
           open_s=doc["screens"][0]["open_s"], run_s=round(truth["run_s"]))
    assert not got["problems"], "; ".join(got["problems"])


def test_box_boots_in_1970_then_ntp_steps_to_2026(tmp_path: Path) -> None:
    """No RTC: the box boots at 1970-01-01 (wall 0), plays for 5 minutes, then NTP steps the
    wall clock to 2026-12-01 10:00. The log records the step; the audit neither invents 56
    years of opening time nor a violation, and measures the gaps on monotonic time."""
    recs = simulate_with_step(tmp_path, 0.0, T0 - 300.0, hb=300, halves=True)
    assert len(_steps(recs)) == 1 and abs(_steps(recs)[0] - (T0 - 300.0)) < 2
    names = sorted(p.name for p in (tmp_path / "log").iterdir() if p.suffix == ".jsonl")
    assert names == ["signage-1970-01-01.jsonl", "signage-2026-12-01.jsonl"], names
    assert recs[0]["wall"].startswith("1970-01-01T08:00:00")
    truth = mono_truth(recs)
    assert truth["max_gap"] <= MAX_GAP  # the runtime kept the rule through the step
    got = _audit_matches_truth(tmp_path, recs)
    doc = got["doc"]
    report("clock: boot at 1970", step_s=_steps(recs)[0], audit_exit=doc["exit_code"],
           open_s=doc["screens"][0]["open_s"], run_s=round(truth["run_s"]),
           day_rows=len(doc["days"]), violations=len(doc["violations"]))
    assert not got["problems"], "; ".join(got["problems"])


def test_restart_in_1970_after_a_day_in_2026_keeps_the_log_in_order(tmp_path: Path) -> None:
    """The realistic order: the box ran on 2026-12-01 (boot A), lost power, rebooted without
    RTC (boot B, wall 1970), then NTP stepped. The writer keeps writing after the newest file
    (never a file dated 1970), the chain verifies, and the audit stays readable."""
    clock = VirtualClock(T0)
    _simulate(tmp_path, clock, 120, "signal SIGTERM")
    # boot B: a new Runtime has a new (virtual) boot id; mono restarts low
    recs_b = simulate_with_step(tmp_path, 0.0, T0 + 600 - 60.0, hb=60, run_s=180,
                                halves=True)
    names = sorted(p.name for p in (tmp_path / "log").iterdir() if p.suffix == ".jsonl")
    assert names == ["signage-2026-12-01.jsonl"], names
    boots = {r["boot"] for r in recs_b}
    assert len(boots) == 2
    res = audit_api([tmp_path / "log"], tmp_path / "site.key")
    doc = res.doc
    assert res.code in (0, 1), (res.code, doc["integrity"]["findings"][:3], res.err)
    # the outage between the runs is real (boot A stopped at 10:02, boot B's first records,
    # re-placed by its step, are at 10:05): it may be reported, but never as 56 years
    long = [v for v in doc["violations"] if v["length_s"] > 3600]
    days = {d["day"] for d in doc["days"]}
    report("clock: restart in 1970 after 2026", audit_exit=res.code,
           violations=len(doc["violations"]), day_rows=len(doc["days"]))
    assert not long, long[:2]
    assert days <= {"2026-12-01", "1970-01-01"}, sorted(days)[:5]


def test_heartbeats_keep_their_cadence_whatever_the_wall_date(tmp_path: Path) -> None:
    """A simulated day in the past (or a box whose clock reads 1970): heartbeats come every
    heartbeat_s of the run, as on any other date (the audit uses their cadence to tell a
    silent daemon; systemd's watchdog is fed with them)."""
    clock = VirtualClock(datetime(2026, 1, 1, 10, 0, tzinfo=TZ).timestamp())
    _simulate(tmp_path, clock, 120)
    recs = records(tmp_path / "log", tmp_path / "site.key")
    hbs = sum(r["type"] == "heartbeat" for r in recs)
    report("clock: heartbeats on a past date", run_s=120, heartbeat_s=1, heartbeats=hbs)
    assert hbs >= 118, f"{hbs} heartbeats in 120 s at heartbeat_s = 1"


def test_a_24_hour_site_keeps_the_rule_across_local_midnight(tmp_path: Path) -> None:
    """Hours 00:00-24:00 every day: midnight is not a closing. The screen keeps playing
    and no gap around 00:00 exceeds max_gap (the audit joins touching spans). The phase of
    the plan at midnight depends on when the daemon started: ten starts, 0.37 s apart."""
    worst: list[tuple[float, str, int, int]] = []
    for k in range(10):
        root = tmp_path / f"m{k}"
        root.mkdir()
        start = datetime(2026, 12, 1, 23, 56, tzinfo=TZ).timestamp() + 0.37 * k
        clock = VirtualClock(start)
        _simulate(root, clock, 480)
        recs = records(root / "log", root / "site.key")
        truth = mono_truth(recs)
        clears = [r for r in recs if r["type"] == "screen_clear"]
        res = audit_api([root / "log"], root / "site.key")
        assert res.doc["integrity"]["intact"]
        worst.append((round(truth["max_gap"], 3), recs[0]["wall"], len(clears), res.code))
    report("clock: 24-hour site across midnight", starts=len(worst),
           worst_gap_s=max(w[0] for w in worst),
           starts_with_gap_over_limit=sum(w[0] > MAX_GAP for w in worst),
           starts_with_screen_clear=sum(w[2] > 0 for w in worst),
           audit_exits=sorted({w[3] for w in worst}))
    bad = [w for w in worst if w[0] > MAX_GAP or w[2] or w[3] != 0]
    assert not bad, (
        "gap over max_gap or a blank screen at midnight (max gap s, start, screen_clear "
        f"records, audit exit): {bad}; the planner ends the day's segment with a hole shorter "
        "than MIN_SHOWING_MS instead of joining it to the next day's")
